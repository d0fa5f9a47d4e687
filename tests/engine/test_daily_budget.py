"""Daily API budgets: a backfill that needs more than a day's budget stops at the reserve with no daily
refusal, replies keep reaching the CRM while it waits, and it resumes when the day turns (HubSpot: midnight,
Salesforce: a rolling 24 hours) until every contact is mirrored once. `status`, /metrics and the status page
show the budget, the reserve and the pause. Real HTTP against the sandbox, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.metrics import Metrics
from threadline.connector.monitoring.status import build_status
from threadline.connector.web.status_page import render_status, status_view
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine, SyncSummary
from threadline.sync.store.tables import ContactRow, DeferredMailRow, SyncErrorRow

REPLIER = "jane.doe@acme-corp.example"     # a demo contact: mirrored on the backfill's first page


class Clock:
    """The one wall clock of the sandbox's limits, the adapter's budget and the engine."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    sandbox: SandboxServer
    crm: str
    engine: SyncEngine
    clock: Clock
    total: int                    # contacts (and Leads) the CRM holds
    limit: int                    # the CRM's daily API requests

    def cycle(self) -> SyncSummary:
        summary = self.engine.run_once()
        assert summary.errors == [], summary.errors
        return summary

    def mirrored(self) -> int:
        with self.engine.store.session() as session:
            return int(session.exec(select(func.count()).select_from(ContactRow)).one())

    def replies_of(self, address: str) -> list[str]:
        """Subjects of the replies logged on the contact with `address`, as the CRM holds them."""
        if self.crm == "hubspot":
            [contact] = [c for c in self.sandbox.hubspot.contacts if c.properties.get("email") == address]
            return [e["properties"]["hs_email_subject"] for e in self.sandbox.hubspot.emails_for(str(contact.id))]
        [row] = [r for kind in ("Contact", "Lead") for r in self.sandbox.salesforce.org.rows(kind)
                 if r.get("Email") == address]
        return [t["Subject"] for t in self.sandbox.salesforce.tasks_for(row["Id"])]

    def unmirrored_address(self) -> str:
        """The address of a contact the CRM holds that the mirror does not have yet."""
        with self.engine.store.session() as session:
            mirrored = set(session.exec(select(ContactRow.crm_id)).all())
        if self.crm == "hubspot":
            return next(str(c.properties["email"]) for c in self.sandbox.hubspot.contacts
                        if str(c.id) not in mirrored and c.properties.get("email"))
        return next(str(r["Email"]) for kind in ("Contact", "Lead") for r in self.sandbox.salesforce.org.rows(kind)
                    if r["Id"] not in mirrored and r.get("Email"))

    def deferred(self) -> int:
        with self.engine.store.session() as session:
            # Waiting for the mirror (mail from strangers in a thread waits for its thread instead: deferred.py)
            return int(session.exec(select(func.count()).select_from(DeferredMailRow)
                                    .where(DeferredMailRow.kind == "mirror")).one())

    def daily_refusals(self) -> int:
        """HubSpot counts 429s; Salesforce's refusals would be recorded as ApiLimitExceeded errors."""
        with self.engine.store.session() as session:
            recorded = session.exec(select(func.count()).select_from(SyncErrorRow).where(
                SyncErrorRow.kind.contains("ApiLimitExceeded") | SyncErrorRow.message.contains("DAILY"))).one()
        return int(recorded) + self.sandbox.stats.snapshot()["throttled"].get("hubspot", 0)


def _world(sandbox: SandboxServer, tmp_path: Path, crm: str) -> Iterator[World]:
    clock = Clock()
    sandbox.hubspot.limits.today = clock
    sandbox.salesforce.limits.clock = clock
    seeded = seed_demo(sandbox, crm=crm)
    if crm == "hubspot":
        sandbox.hubspot.seed_contacts(2500)
        limit = 40                                                  # a backfill of 2,500 needs about 45 calls
        sandbox.hubspot.settings.hubspot_daily_limit = limit
        total = len(sandbox.hubspot.contacts)
    else:
        sandbox.salesforce.seed(5000, start=clock.now + timedelta(minutes=1))
        sandbox.salesforce.settings.salesforce_query_batch_size = 100
        limit = 40                                                  # 5,000 records at 100 a page: 51 pages
        sandbox.salesforce.set_daily_limit(limit)
        total = len(sandbox.salesforce.org.rows("Contact")) + len(sandbox.salesforce.org.rows("Lead"))
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 'budget.db'}", seeded, crm=crm)
    config["crm"]["daily_reserve"] = 0.25
    config["sync"]["associate"] = []      # the budget is counted call by call: no company/deal lookups here
    settings = parse_settings(config, tmp_path / "threadline.yaml", env={})
    engine = build_engine(settings, clock=clock)
    engine.crm.daily_budget.clock = clock             # type: ignore[attr-defined]
    yield World(sandbox, crm, engine, clock, total, limit)
    engine.close()


@pytest.fixture(params=["hubspot", "salesforce"])
def world(request: pytest.FixtureRequest, sandbox: SandboxServer, tmp_path: Path) -> Iterator[World]:
    yield from _world(sandbox, tmp_path, request.param)


def _reply(sender: str, n: int, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, REP, f"Re: budget question {n}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<budget-reply-{n}@acme-corp.example>"
    msg["In-Reply-To"] = msg["References"] = f"<budget-outreach-{n}@northwind.example>"
    msg.set_content(f"Answer number {n}: yes, we still want the pilot.\n")
    return msg.as_bytes()


def _next_day(world: World) -> None:
    """Past HubSpot's midnight (UTC here) and Salesforce's 24 hours alike."""
    world.clock.now += timedelta(hours=24, minutes=5)


def test_backfill_stops_at_the_reserve_logs_replies_meanwhile_and_resumes_the_next_day(world: World) -> None:
    first = world.cycle()
    assert first.contacts.paused_until is not None                   # the day ran out before the backfill
    assert 0 < world.mirrored() < world.total
    assert world.replies_of(REPLIER)                                  # the demo's reply went out on day one
    with world.engine.store.session() as session:
        [crm] = [s for s in build_status(session).sources if s.source == f"crm:{world.crm}"]
    assert crm.daily_budget is not None and crm.daily_budget.paused_until == first.contacts.paused_until
    assert crm.daily_budget.remaining <= crm.daily_budget.reserve
    assert crm.budget is not None and "paused at the daily reserve" in crm.budget

    # Below the reserve, the contact pull makes no call, and a new reply still reaches the CRM.
    world.sandbox.gmail.deliver(REP, _reply(REPLIER, 1, world.clock.now), ("INBOX",))
    calls = world.sandbox.stats.snapshot()["requests"].get(world.crm, 0)
    during = world.cycle()
    assert during.contacts.pulled == 0 and during.contacts.paused_until is not None
    assert any(s.endswith("Re: budget question 1") for s in world.replies_of(REPLIER))
    assert world.sandbox.stats.snapshot()["requests"][world.crm] - calls <= 3    # the reply's writes only

    # A reply from a contact the paused backfill has not reached yet is kept, not skipped for good ...
    stranger, kept = world.unmirrored_address(), world.deferred()
    world.sandbox.gmail.deliver(REP, _reply(stranger, 2, world.clock.now), ("INBOX",))
    world.cycle()
    assert world.deferred() == kept + 1 and world.replies_of(stranger) == []

    events, days = first.contacts.events, 1
    while world.mirrored() < world.total:
        assert days < 8, "the backfill never finished"
        _next_day(world)
        days += 1
        summary = world.cycle()
        assert summary.contacts.pulled > 0                            # resumed where it stopped
        events += summary.contacts.events
    assert days >= 2
    assert events == world.total                                      # each contact mirrored once, never twice
    assert world.daily_refusals() == 0
    # ... and logged, once, when the backfill has read to the end; a later cycle adds nothing.
    world.cycle()
    assert world.deferred() == 0
    assert [s for s in world.replies_of(stranger) if s.endswith("Re: budget question 2")] != []
    logged = world.replies_of(stranger)
    world.cycle()
    assert world.replies_of(stranger) == logged and len(logged) == 1


def test_metrics_and_status_page_show_the_budget_the_reserve_and_the_pause(world: World) -> None:
    world.cycle()
    settings = parse_settings(demo_config(world.sandbox, str(world.engine.store.engine.url), {
        "owner_id": "1", "refresh_token": "x", "sf_refresh_token": "x"}, crm=world.crm), Path("t.yaml"), env={})
    text = Metrics(settings, world.engine.store, world.clock.now).render().decode()
    limit = world.limit
    assert f'threadline_crm_daily_limit{{provider="{world.crm}"}} {float(limit)}' in text
    assert f'threadline_crm_daily_reserve{{provider="{world.crm}"}} {float(round(limit * 0.25))}' in text
    assert f'threadline_crm_daily_paused{{provider="{world.crm}"}} 1.0' in text
    view = status_view(world.engine.store, settings, started_at=world.clock.now)
    [crm] = [s for s in view["sources"] if s["source"] == f"crm:{world.crm}"]
    assert crm["daily_budget"]["limit"] == limit and crm["daily_budget"]["paused_until"] is not None
    page = render_status(view)
    assert "Contact pull paused at the" in page and f'data-limit="{limit}"' in page
