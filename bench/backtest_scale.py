"""Benchmark: `threadline backtest` over 10,000, 100,000 and 1,000,000 contacts (issue #20).

For each size, builds a SQLite store with N contacts and E events each (bench/plan_100k.py's generator: page
visits, demo forms, replies over 60 days), gives a share of the contacts (30 % by default) a later change of
`industry`, which the rules read (enrichment: each such contact is replayed in two stretches, before and after
the change, as the daemon would have scored it), then replays it in a fresh child process (`--measure`) so the peak RSS
is the backtest's alone: the points model as the current rules against a proposed change (pricing counts more,
a faster decay, MQL at 45), a 90-day window, both rule sets per contact, contacts and events read in keyset
batches. Measures wall time, CPU and peak RSS. Prints JSON.
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
from bench.plan_100k import seed
from threadline.connector.reports.backtest_data import Batch, open_read_only, replay_store
from threadline.rules.scoring import ScoringSettings, compile_scoring
from threadline.rules.scoring.backtest import Backtest, OutcomeRules, Window
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EventRow

ROOT = Path(__file__).resolve().parents[1]
RSS_TARGET_MB = 500


def rule_sets() -> tuple[ScoringSettings, ScoringSettings]:
    """The points model (current) and a proposed change to it."""
    current = yaml.safe_load((ROOT / "config/rules/points-model.yaml").read_text())["scoring"]
    proposed = {**current, "decay": {"points": -10, "every_days": 14},
                "rules": [{**rule, "points": rule["points"] + 5} if rule["name"] == "pricing-page" else rule
                          for rule in current["rules"]],
                "tiers": [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "mql", "min": 45}]}
    return ScoringSettings.model_validate(current), ScoringSettings.model_validate(proposed)


def measure(url: str, now: datetime) -> dict[str, Any]:
    """What `threadline backtest --since 90d` computes (everything but printing), timed, in this process."""
    current, proposed = rule_sets()
    backtest = Backtest(compile_scoring(proposed), compile_scoring(current), Window(now - timedelta(days=90), now),
                        OutcomeRules())
    store = open_read_only(url)
    replayed = 0

    def count(batch: Batch) -> None:
        nonlocal replayed
        replayed += batch.events

    cpu, wall = time.process_time(), time.perf_counter()
    contacts = replay_store(store, backtest, on_batch=count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    current_side = backtest.current
    return {"contacts": contacts, "events_replayed": replayed, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "contacts_per_second": round(contacts / wall) if wall else None,
            "mqls_current": current_side.mqls if current_side else None, "mqls_proposed": backtest.proposed.mqls,
            "tier_changes": backtest.changes.total,
            "peak_rss_mb": peak_rss_mb()}


def enrich(store: Store, contacts: int, share: float, now: datetime) -> int:
    """A `contact.updated` of `industry` (from nothing to a value: the replay reads only `old`) for `share` of the
    contacts, at a random moment of the last 50 days; returns how many."""
    rng = random.Random(11)
    changed = [i for i in range(contacts) if rng.random() < share]
    with store.engine.begin() as connection:
        for start in range(0, len(changed), 5_000):
            connection.execute(insert(EventRow.__table__), [  # type: ignore[attr-defined]
                {"id": f"industry-{i}", "type": "contact.updated", "contact_id": str(i),
                 "occurred_at": now - timedelta(days=rng.uniform(0, 50)), "source": "crm",
                 "data": json.dumps({"field": "industry", "old": None, "new": "SaaS"})}
                for i in changed[start:start + 5_000]])
    return len(changed)


def one_size(contacts: int, per_contact: int, enriched: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/backtest.db"
        started = time.perf_counter()
        store = Store(url)
        seed(store, contacts, per_contact, now)
        changes = enrich(store, contacts, enriched, now)
        store.dispose()
        seeded = time.perf_counter() - started
        result = measure_in_child("bench.backtest_scale", url, now)
    return {**result, "events": contacts * per_contact + changes, "field_changes": changes,
            "seed_seconds": round(seeded, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated contact counts")
    parser.add_argument("--events-per-contact", type=int, default=5)
    parser.add_argument("--enriched", type=float, default=0.3,
                        help="share of contacts with a later change of a field the rules read")
    add_child_arguments(parser)
    args = parser.parse_args()
    if run_as_child(args, measure):
        return
    rows = [one_size(int(size), args.events_per_contact, args.enriched) for size in args.sizes.split(",")]
    largest = max(rows, key=lambda row: row["contacts"])
    print(json.dumps({
        "benchmark": "backtest_scale", "sizes": rows, "largest": largest, "target_rss_mb": RSS_TARGET_MB,
        "meets_rss_target": all(row["peak_rss_mb"] < RSS_TARGET_MB for row in rows),
        "enriched_share": args.enriched,
        "measured": "a fresh child process per size running the backtest's replay (store read in keyset batches, "
                    "two rule sets per contact, a contact with a field change replayed in two stretches); seeding is "
                    "not in it",
    }, indent=2))


if __name__ == "__main__":
    main()
