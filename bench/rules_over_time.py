"""Benchmark: the daemon's rules step as time passes (issue #16), on a SQLite mirror of N contacts.

The store is the plan benchmark's (bench/plan_100k.py: N contacts, 5 events each over the last 40 days) with the
points model. The first rules step evaluates everyone (their events are new) and keeps each contact's next
time-driven change. Then, with a clock the benchmark moves:

- the idle step (nothing new, nothing due): wall time per step and SQL statements per step;
- a decay day (the clock 31 days on, when most contacts' next decay step has come): how many steps of at most
  1,000 contacts the backlog takes, and contacts re-evaluated per second.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event
from sqlmodel import func, select

from bench.plan_100k import seed
from threadline.rules.runner import DUE_BATCH, RuleRunner, compile_rules
from threadline.rules.settings import RulesSettings
from threadline.sync.store.database import Store
from threadline.sync.store.tables import RuleDueRow

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--idle-steps", type=int, default=50)
    args = parser.parse_args()
    settings = RulesSettings.model_validate(yaml.safe_load((ROOT / "config/rules/points-model.yaml").read_text()))
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/rules.db")
        seed(store, args.contacts, 5, now)
        runner = RuleRunner(store, compile_rules(settings))
        started = time.perf_counter()
        first = runner.run_pending(now)
        first_seconds = time.perf_counter() - started
        with store.session() as session:
            scheduled = session.exec(select(func.count()).select_from(RuleDueRow)).one()

        statements: list[str] = []

        def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        idle = []
        event.listen(store.engine, "before_cursor_execute", seen)
        for _ in range(args.idle_steps):
            started = time.perf_counter()
            runner.run_pending(now)          # nothing new, and nothing falls due at this instant
            idle.append(time.perf_counter() - started)
        event.remove(store.engine, "before_cursor_execute", seen)

        later = now + timedelta(days=31)
        with store.session() as session:
            due = session.exec(select(func.count()).select_from(RuleDueRow).where(RuleDueRow.due_at <= later)).one()
        steps, evaluated, intended = 0, 0, 0
        started = time.perf_counter()
        while True:
            summary = runner.run_pending(later)
            if not summary.evaluated:
                break
            steps, evaluated, intended = steps + 1, evaluated + summary.evaluated, intended + summary.intended
        backlog_seconds = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "rules_over_time", "contacts": args.contacts, "first_step_seconds": round(first_seconds, 2),
        "first_step_evaluated": first.evaluated, "contacts_with_a_next_change": scheduled,
        "idle_step_ms_median": round(statistics.median(idle) * 1000, 2),
        "idle_step_ms_p99": round(sorted(idle)[max(0, int(len(idle) * 0.99) - 1)] * 1000, 2),
        "idle_step_statements": round(len(statements) / args.idle_steps, 2),
        "idle_step_queries": round(sum(s.lstrip().upper().startswith("SELECT") for s in statements) / args.idle_steps, 2),
        "decay_day_due": due, "decay_day_steps": steps, "decay_day_evaluated": evaluated,
        "decay_day_writes": intended, "decay_day_seconds": round(backlog_seconds, 2),
        "decay_day_contacts_per_second": round(evaluated / backlog_seconds) if backlog_seconds else None,
        "batch": DUE_BATCH,
    }, indent=2))


if __name__ == "__main__":
    main()
