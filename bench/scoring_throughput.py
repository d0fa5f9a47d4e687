"""Scoring throughput: events scored per CPU-second, single process, over synthetic contacts.

Run: .venv/bin/python bench/scoring_throughput.py [--contacts 100000] [--events 1000000] [--seed 7]
(prints JSON; target >= 50,000 events/s per core, CPU time)

The rule set is the issue's points model (+10 pricing page, +25 demo request, +15 case study,
-10 careers page, a "pricing 2+ times in 7 days" window, reply and meeting points, three fit
rules on contact fields, unsubscribe reset, -5 per 30 days decay, tiers 1-25 / 26-70 / 71+,
lead and MQL stages). Events are generated per contact in chunks (so memory stays flat) as
real ``Event`` models; only ``Scorer.score`` (and, measured separately, the ``score_rows``
fast path over plain tuples and ``scoring_effects``) is inside the timed region.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from threadline.rules.contact_facts import ContactFacts  # noqa: E402
from threadline.rules.scoring import (  # noqa: E402
    Decay,
    Reset,
    ScoringRule,
    ScoringSettings,
    StageRule,
    Tier,
    Window,
    compile_scoring,
    scoring_effects,
)
from threadline.sync.events.records import Event  # noqa: E402

NOW = datetime(2026, 11, 23, tzinfo=UTC)
CHUNK = 2_000   # contacts generated (and then scored) at a time

SETTINGS = ScoringSettings(
    custom_events=["page.visited", "form.submitted"],
    rules=[
        ScoringRule(name="pricing page", event="page.visited", where={"event.url": {"contains": "/pricing"}},
                    points=10, cap=30),
        ScoringRule(name="pricing page repeat", event="page.visited", where={"event.url": {"contains": "/pricing"}},
                    points=10, window=Window(count=2, days=7)),
        ScoringRule(name="demo request", event="form.submitted", where={"event.form": "demo-request"}, points=25),
        ScoringRule(name="case study", event="page.visited", where={"event.url": {"contains": "/case-studies"}},
                    points=15, cap=45),
        ScoringRule(name="careers page", event="page.visited", where={"event.url": {"contains": "/careers"}},
                    points=-10),
        ScoringRule(name="replied", event="reply.received", points=20, cap=40),
        ScoringRule(name="meeting booked", event="meeting.booked", points=30),
        ScoringRule(name="target industry", event="contact.created", dimension="fit", points=15,
                    where={"contact.industry": {"in": ["SaaS", "Fintech"]}}),
        ScoringRule(name="company size", event="contact.created", dimension="fit", points=10,
                    where={"contact.numberofemployees": {">=": 200}}),
        ScoringRule(name="student", event="contact.created", dimension="fit", points=-20,
                    where={"contact.jobtitle": {"contains": "student"}}),
    ],
    decay=Decay(points=-5, every_days=30),
    resets=[Reset(event="unsubscribed")],
    tiers=[Tier(name="educational", min=1), Tier(name="solution", min=26), Tier(name="mql", min=71)],
    stages=[StageRule(at_least=1, value="lead"), StageRule(at_least=50, value="marketingqualifiedlead")],
)

URLS = ["/pricing", "/case-studies/acme", "/careers", "/blog/post", "/", "/docs/start"]
KINDS = (  # (weight, type, data factory)
    (55, "page.visited", lambda rnd: {"url": "https://threadline.example" + rnd.choice(URLS)}),
    (8, "form.submitted", lambda rnd: {"form": rnd.choice(["demo-request", "newsletter", "ebook"])}),
    (12, "email.sent", lambda rnd: {"subject": "Hello", "message_id": "<m@x>", "mailbox": "rep@example.com"}),
    (10, "reply.received", lambda rnd: {"subject": "Re: Hello", "text": "Thanks", "message_id": "<r@x>",
                                        "mailbox": "rep@example.com"}),
    (3, "meeting.booked", lambda rnd: {"meeting_id": "m1", "starts_at": "2026-12-01T10:00:00Z"}),
    (8, "contact.updated", lambda rnd: {"field": "phone", "old": None, "new": "+49"}),
    (1, "unsubscribed", lambda rnd: {"channel": "email", "via": "list-unsubscribe"}),
)
WEIGHTS = [kind[0] for kind in KINDS]


def make_contact(rnd: random.Random, n: int) -> ContactFacts:
    return ContactFacts(f"c{n}", {
        "email": f"p{n}@company{n % 5000}.example", "industry": rnd.choice(["SaaS", "Fintech", "Retail", "Health"]),
        "numberofemployees": str(rnd.choice([5, 40, 250, 1200])), "country": rnd.choice(["DE", "US", "FR"]),
        "jobtitle": rnd.choice(["CTO", "Head of Sales", "student", "Engineer"]), "lifecyclestage": "lead"})


def make_events(rnd: random.Random, contact: ContactFacts, count: int) -> list[Event]:
    start = NOW - timedelta(days=365)
    events = [Event(id=f"{contact.id}-0", type="contact.created", contact_id=contact.id, occurred_at=start,
                    source="crm")]
    for i in range(1, count):
        _, type_, data = rnd.choices(KINDS, WEIGHTS)[0]
        at = start + timedelta(seconds=rnd.randrange(365 * 86_400))
        events.append(Event(id=f"{contact.id}-{i}", type=type_, contact_id=contact.id, occurred_at=at,
                            source="api", data=data(rnd)))
    rnd.shuffle(events)
    return events


def chunk_sizes(contacts: int, events: int, rnd: random.Random) -> list[int]:
    """Events per contact: 1..(2*mean-1), adjusted so the total is exactly ``events``."""
    mean = events // contacts
    sizes = [rnd.randint(1, 2 * mean - 1) for _ in range(contacts)]
    diff = events - sum(sizes)
    i = 0
    while diff:
        step = 1 if diff > 0 else -1
        if sizes[i % contacts] + step >= 1:
            sizes[i % contacts] += step
            diff -= step
        i += 1
    return sizes


def run(contacts: int, events: int, seed: int) -> dict:
    rnd = random.Random(seed)
    scorer = compile_scoring(SETTINGS)
    sizes = chunk_sizes(contacts, events, rnd)
    cpu = {"score": 0, "score_rows": 0, "effects": 0}
    wall_score = 0
    writes = fired = 0
    for first in range(0, contacts, CHUNK):
        people = [make_contact(rnd, n) for n in range(first, min(first + CHUNK, contacts))]
        batch = [(contact, make_events(rnd, contact, sizes[first + i])) for i, contact in enumerate(people)]
        rows = [[(e.id, e.type, e.occurred_at, e.source, e.data) for e in evs] for _, evs in batch]

        wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
        results = [scorer.score(contact, evs, NOW) for contact, evs in batch]
        cpu1 = time.process_time_ns()
        wall_score += time.perf_counter_ns() - wall0
        for (contact, _), contact_rows in zip(batch, rows, strict=True):
            scorer.score_rows(contact, contact_rows, NOW)
        cpu2 = time.process_time_ns()
        effects = [scoring_effects(contact, result, SETTINGS) for (contact, _), result in zip(batch, results,
                                                                                          strict=True)]
        cpu3 = time.process_time_ns()
        cpu["score"] += cpu1 - cpu0
        cpu["score_rows"] += cpu2 - cpu1
        cpu["effects"] += cpu3 - cpu2
        writes += sum(len(e) for e in effects)
        fired += sum(len(r.contributions) for r in results)
    return report(contacts, events, cpu, wall_score, writes, fired)


def report(contacts: int, events: int, cpu: dict, wall_score: int, writes: int, fired: int) -> dict:
    per_second = events / (cpu["score"] / 1e9)
    return {
        "benchmark": "scoring_throughput",
        "contacts": contacts, "events": events, "rules": len(SETTINGS.rules),
        "cpu_seconds_score": round(cpu["score"] / 1e9, 3),
        "wall_seconds_score": round(wall_score / 1e9, 3),
        "events_per_cpu_second": round(per_second),
        "events_per_cpu_second_rows_fast_path": round(events / (cpu["score_rows"] / 1e9)),
        "contacts_per_cpu_second_scoring_effects": round(contacts / (cpu["effects"] / 1e9)),
        "contributions": fired, "set_fields_effects": writes,
        "target_events_per_second": 50_000, "meets_target": per_second >= 50_000,
        "python": platform.python_version(), "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.contacts, args.events, args.seed), indent=2))


if __name__ == "__main__":
    main()
