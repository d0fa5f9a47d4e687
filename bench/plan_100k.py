"""Benchmark: `threadline plan` (the streamed RuleRunner.tally) over N contacts, 100,000 or 1,000,000.

Builds a SQLite store with N contacts and E events per contact (default 5), loads the points
model and the tier-routing assignment from config/rules/, then runs the plan in a fresh child
process (`--measure`) so the peak RSS is the evaluating process's alone, not the seeding's:
reading contacts and events batch by batch, scoring, assignment, effects counted. Targets:
< 30 s for 100,000 contacts; < 250 s and < 500 MB RSS for 1,000,000 x 5 events (issue #18).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from bench.child import add_child_arguments, measure_in_child, peak_rss_mb, run_as_child
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.rules.settings import RulesSettings
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EventRow

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["/pricing", "/case-studies/acme", "/careers", "/blog/x", "/pricing"]


def seed(store: Store, contacts: int, per_contact: int, now: datetime) -> None:
    rng = random.Random(7)
    with store.engine.begin() as connection:
        for start in range(0, contacts, 5_000):
            rows = [{"crm_id": str(i), "object_type": "contact", "primary_email": f"p{i}@company{i % 20_000}.example",
                     "first_name": "P", "last_name": str(i), "company": f"Company {i % 20_000}", "owner_id": None,
                     "updated_at": now, "merged_into": None, "deleted": False,
                     "properties": json.dumps({"numberofemployees": str(rng.choice([10, 250, 5000])),
                                               "industry": rng.choice(["SaaS", "Retail", "Fintech"])})}
                    for i in range(start, min(contacts, start + 5_000))]
            connection.execute(insert(ContactRow.__table__), rows)  # type: ignore[attr-defined]
            events = []
            for row in rows:
                cid = row["crm_id"]
                events.append({"id": f"c-{cid}", "type": "contact.created", "contact_id": cid,
                               "occurred_at": now - timedelta(days=60), "source": "crm", "data": "{}"})
                for n in range(per_contact - 1):
                    kind = rng.random()
                    if kind < 0.7:
                        data, type_ = {"url": f"https://x.example{rng.choice(PAGES)}"}, "page.visited"
                    elif kind < 0.85:
                        data, type_ = {"form": "demo"}, "form.submitted"
                    else:
                        data, type_ = {"subject": "Re: hi", "text": "yes"}, "reply.received"
                    events.append({"id": f"e-{cid}-{n}", "type": type_, "contact_id": cid,
                                   "occurred_at": now - timedelta(days=rng.uniform(0, 40)), "source": "api",
                                   "data": json.dumps(data)})
            connection.execute(insert(EventRow.__table__), events)  # type: ignore[attr-defined]


def rules_settings() -> RulesSettings:
    points = yaml.safe_load((ROOT / "config/rules/points-model.yaml").read_text())
    routing = yaml.safe_load((ROOT / "config/rules/tier-routing.yaml").read_text())
    settings = RulesSettings.model_validate({**points, "assignment": routing["assignment"]})
    settings.assignment.trigger = {"score.tier": "mql"}  # type: ignore[union-attr]
    return settings


def measure(url: str, now: datetime) -> dict[str, Any]:
    """What `threadline plan` does (text output: totals and the first 20 changes), timed, in this process."""
    runner = RuleRunner(Store(url), compile_rules(rules_settings()))
    cpu, wall = time.process_time(), time.perf_counter()
    tally = runner.tally(now, sample=20)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"contacts": tally.contacts, "effects": tally.effects, "touched_by_rule": dict(tally.touched),
            "held_rules": tally.held(runner.rules.settings), "plan_wall_seconds": round(wall, 2),
            "plan_cpu_seconds": round(cpu, 2),
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events-per-contact", type=int, default=5)
    add_child_arguments(parser)
    args = parser.parse_args()
    if run_as_child(args, measure):
        return
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/plan.db"
        started = time.perf_counter()
        seed(Store(url), args.contacts, args.events_per_contact, now)
        seeded = time.perf_counter() - started
        result = measure_in_child("bench.plan_100k", url, now)
    target = 30 * args.contacts / 100_000 if args.contacts <= 100_000 else 250 * args.contacts / 1_000_000
    print(json.dumps({
        "benchmark": "plan_100k", **result, "events": args.contacts * args.events_per_contact,
        "target_seconds": round(target, 1), "meets_target": result["plan_wall_seconds"] < target,
        "target_rss_mb": 500, "meets_rss_target": result["peak_rss_mb"] < 500, "seed_seconds": round(seeded, 1),
        "measured": "a fresh child process running RuleRunner.tally (what `plan` runs); seeding is not in it",
    }, indent=2))


if __name__ == "__main__":
    main()
