"""Benchmark: a day's budget (issue #18). A contact backfill whose CRM daily limit is set below what it needs.

For each CRM (HubSpot, Salesforce), against the sandbox over real HTTP, on SQLite, on a clock the benchmark moves:
the demo's rep mailbox and contacts plus `--contacts` more; the daily limit is `--share` of the calls the
backfill needs, plus 40 for the rest of the day's work. Day one's cycle must stop the pull at the reserve (`crm.daily_reserve`); then `--replies` new
replies arrive and a second cycle must log them while the pull stays paused; then the clock moves a day at a
time (HubSpot: past midnight; Salesforce: past its rolling 24 hours) until the backfill completes. Counted: daily
refusals (HubSpot 429 DAILY, Salesforce REQUEST_LIMIT_EXCEEDED), replies logged during the pause, contacts
mirrored (each once: one "new contact" event each), calls left when the pull paused against the reserve, the
most calls the CRM counted in one day, days taken, wall time.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.engine import SyncEngine
from threadline.sync.store.tables import ContactRow, SyncErrorRow
from threadline.sync.work.cursors import load_budget

REPLIER = "jane.doe@acme-corp.example"    # a demo contact, on the backfill's first page
#: Calls a day takes besides the pull: the schema check, replies logged, budget probes.
OVERHEAD = {"hubspot": 25, "salesforce": 10}
LEAST_RESERVE = 10       # calls the reserve must hold for the replies logged during the pause


class Clock:
    """The wall clock of the sandbox's daily limits, the adapter's budget and the engine."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _reply(n: int, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REPLIER, REP, f"Re: budget {n}"
    msg["Date"], msg["Message-ID"] = format_datetime(when), f"<budget-{n}@acme-corp.example>"
    msg["In-Reply-To"] = msg["References"] = f"<budget-out-{n}@northwind.example>"
    msg.set_content(f"Reply {n}: still interested.\n")
    return msg.as_bytes()


def _world(sandbox: SandboxServer, tmp: Path, crm: str, contacts: int, share: float, reserve: float,
           sf_batch: int) -> tuple[SyncEngine, Clock, int, int]:
    clock = Clock()
    sandbox.hubspot.limits.today = clock
    sandbox.salesforce.limits.clock = clock
    seeded = seed_demo(sandbox, crm=crm)
    if crm == "hubspot":
        sandbox.hubspot.seed_contacts(contacts)
        total = len(sandbox.hubspot.contacts)
    else:
        sandbox.salesforce.seed(contacts, start=clock.now + timedelta(minutes=1))
        sandbox.salesforce.settings.salesforce_query_batch_size = sf_batch
        total = len(sandbox.salesforce.org.rows("Contact")) + len(sandbox.salesforce.org.rows("Lead"))
    # HubSpot's two backfill walks read 100 (list) and 200 (search) contacts a call.
    pages = math.ceil(total / (150 if crm == "hubspot" else sf_batch))
    limit = max(math.ceil((pages + OVERHEAD[crm]) * share), math.ceil(LEAST_RESERVE / reserve))
    if crm == "hubspot":
        sandbox.hubspot.settings.hubspot_daily_limit = limit
    else:
        sandbox.salesforce.set_daily_limit(limit)
    config = demo_config(sandbox, f"sqlite:///{tmp / f'{crm}.db'}", seeded, crm=crm)
    config["crm"]["daily_reserve"] = reserve
    if crm == "hubspot":
        config["crm"].update(requests_per_10s=100_000, search_per_second=1000)
    engine = build_engine(parse_settings(config, tmp / "t.yaml", env={}), clock=clock)
    engine.crm.daily_budget.clock = clock            # type: ignore[attr-defined]
    return engine, clock, total, limit


def _count(engine: SyncEngine, what: Any) -> int:
    with engine.store.session() as session:
        return int(session.exec(what).one())


def _logged(sandbox: SandboxServer, crm: str) -> int:
    if crm == "hubspot":
        [contact] = [c for c in sandbox.hubspot.contacts if c.properties.get("email") == REPLIER]
        return len(sandbox.hubspot.emails_for(str(contact.id)))
    [row] = [r for r in sandbox.salesforce.org.rows("Contact") if r.get("Email") == REPLIER]
    return len(sandbox.salesforce.tasks_for(row["Id"]))


def measure(crm: str, contacts: int, share: float, reserve: float, replies: int, sf_batch: int) -> dict[str, Any]:
    settings = SandboxSettings(hubspot_requests_per_10s=100_000, hubspot_search_per_second=1000)
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(settings) as sandbox:
        engine, clock, total, limit = _world(sandbox, Path(tmp), crm, contacts, share, reserve, sf_batch)
        started = time.perf_counter()
        first = engine.run_once(drain=False)       # the pull alone, so the budget read is the pause's
        with engine.store.session() as session:
            paused = load_budget(session, engine.crm_unit)
        engine.run_once()                          # the demo's replies
        before = _logged(sandbox, crm)
        for n in range(replies):
            sandbox.gmail.deliver(REP, _reply(n, clock.now), ("INBOX",))
        during = engine.run_once()
        logged_during = _logged(sandbox, crm) - before
        events, days, errors = first.contacts.events, 1, first.errors + during.errors
        while _count(engine, select(func.count()).select_from(ContactRow)) < total and days < 60:
            clock.now += timedelta(hours=24, minutes=5)
            days += 1
            summary = engine.run_once()
            events, errors = events + summary.contacts.events, errors + summary.errors
        wall = time.perf_counter() - started
        refusals = _count(engine, select(func.count()).select_from(SyncErrorRow).where(
            SyncErrorRow.kind.contains("ApiLimitExceeded") | SyncErrorRow.message.contains("DAILY")))
        refusals += sandbox.stats.snapshot()["throttled"].get("hubspot", 0) if crm == "hubspot" else 0
        mirrored = _count(engine, select(func.count()).select_from(ContactRow))
        engine.close()
        return {"contacts": total, "daily_limit": limit, "reserve_calls": max(1, round(limit * reserve)),
                "paused_on_day_one": first.contacts.paused_until is not None,
                "left_when_paused": paused.remaining if paused else None,
                "paused_during_replies": during.contacts.paused_until is not None,
                "replies_delivered": replies, "replies_logged_during_pause": logged_during,
                "days": days, "mirrored": mirrored, "new_contact_events": events,
                "daily_refusals": refusals, "errors": errors[:5], "wall_seconds": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts (HubSpot) and records (Salesforce)")
    parser.add_argument("--share", type=float, default=0.45, help="daily limit as a share of the calls needed")
    parser.add_argument("--reserve", type=float, default=0.10, help="crm.daily_reserve")
    parser.add_argument("--replies", type=int, default=5, help="replies arriving while the pull is paused")
    parser.add_argument("--sf-batch", type=int, default=2000, help="Salesforce records per query page")
    parser.add_argument("--crm", default="hubspot,salesforce")
    args = parser.parse_args()
    results = {crm: measure(crm, args.contacts, args.share, args.reserve, args.replies, args.sf_batch)
               for crm in args.crm.split(",")}
    print(json.dumps({"contacts": args.contacts, "share": args.share, "reserve": args.reserve,
                      "by_crm": results}, indent=1))


if __name__ == "__main__":
    main()
