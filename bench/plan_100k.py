"""Benchmark: `threadline plan` (RuleRunner.evaluate over the whole mirror) on 100,000 contacts.

Builds a SQLite store with 100,000 contacts and N events per contact (default 5), loads the
points model and the tier-routing assignment from config/rules/, and times one full
evaluation: reading contacts and events, scoring, assignment, effects. Target: < 30 s.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import insert

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events-per-contact", type=int, default=5)
    args = parser.parse_args()
    points = yaml.safe_load((ROOT / "config/rules/points-model.yaml").read_text())
    routing = yaml.safe_load((ROOT / "config/rules/tier-routing.yaml").read_text())
    settings = RulesSettings.model_validate({**points, "assignment": routing["assignment"]})
    settings.assignment.trigger = {"score.tier": "mql"}  # type: ignore[union-attr]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/plan.db")
        started = time.perf_counter()
        seed(store, args.contacts, args.events_per_contact, now)
        seeded = time.perf_counter() - started
        runner = RuleRunner(store, compile_rules(settings))
        cpu, wall = time.process_time(), time.perf_counter()
        evaluation = runner.evaluate(None, now)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({
        "benchmark": "plan_100k", "contacts": evaluation.contacts, "events": args.contacts * args.events_per_contact,
        "effects": len(evaluation.effects), "assignments": len(evaluation.assignments),
        "plan_wall_seconds": round(wall, 2), "plan_cpu_seconds": round(cpu, 2), "target_seconds": 30,
        "meets_target": wall < 30, "seed_seconds": round(seeded, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
