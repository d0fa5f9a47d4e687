"""Sending windows across daylight-saving changes, on a simulated clock.

The scheduler (SequenceRunner.run(now)) and the send executor (SendExecutor.run(now), sending through the
Gmail sandbox) run at moments that jump from one due time to the next across the March and October/November
changes in New York and Berlin (and the owner's Los Angeles for a contact without a zone): every send is
inside 09:00-17:00 local on a weekday, and a business-day delay keeps the local time of day.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from tests.engine.sequence_world import message_id_of
from tests.fixtures.sandbox import gmail_on
from threadline.adapters.gmail import GmailAdapter
from threadline.rules.sequences import compile_sequences
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.rules.sequences.send_check import why_not_send
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EnrollmentRow, OutboxRow

OWNER = "o-rita"
OWNER_ZONE = "America/Los_Angeles"
OPEN, CLOSE = time(9, 0), time(17, 0)
DST_SEQUENCE = SequenceSettings.model_validate({
    "name": "dst", "enroll_on": "contact.created", "spacing_minutes": 0,
    "window": {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]},
    "steps": [
        {"kind": "email", "subject": "One", "body": "b", "delay": {"hours": 0}},
        {"kind": "email", "subject": "Two", "body": "b", "delay": {"business_days": 1}},
        {"kind": "email", "subject": "Three", "body": "b", "delay": {"hours": 3}},   # past 17:00 -> next morning
    ],
})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (contact, zone or None for the owner's, created at, step 1 and step 2 sent at (UTC), step 3's local time).
# 2026 changes: New York and Los Angeles (the owner) Mar 8 / Nov 1, Berlin Mar 29 / Oct 25.
CASES = [
    # Friday 15:00 local, then Monday 15:00 local in the new offset; step 3 at 18:00 waits for Tuesday 09:00.
    ("ny-spring", "America/New_York", utc(2026, 3, 6, 20), utc(2026, 3, 6, 20), utc(2026, 3, 9, 19), OPEN),
    ("berlin-spring", "Europe/Berlin", utc(2026, 3, 27, 14), utc(2026, 3, 27, 14), utc(2026, 3, 30, 13), OPEN),
    ("ny-autumn", "America/New_York", utc(2026, 10, 30, 19), utc(2026, 10, 30, 19), utc(2026, 11, 2, 20), OPEN),
    ("berlin-autumn", "Europe/Berlin", utc(2026, 10, 23, 13), utc(2026, 10, 23, 13), utc(2026, 10, 26, 14), OPEN),
    # Saturday evening before the change: the window opens Monday 09:00 in the new offset.
    ("ny-weekend", "America/New_York", utc(2026, 3, 7, 23), utc(2026, 3, 9, 13), utc(2026, 3, 10, 13), time(12)),
    # Sunday night of the change (02:30 CEST, before clocks go back): Monday 09:00 CET.
    ("berlin-night", "Europe/Berlin", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 8), utc(2026, 10, 27, 8),
     time(12)),
    # No zone of its own: the owner's (Los Angeles), Friday 15:30 PST -> Monday 15:30 PDT.
    ("owner-zone", None, utc(2026, 3, 6, 23, 30), utc(2026, 3, 6, 23, 30), utc(2026, 3, 9, 22, 30), OPEN),
]


@pytest.fixture
def gmail_sender(sandbox: SandboxServer) -> Iterator[GmailAdapter]:
    with gmail_on(sandbox, DEFAULT_USER) as adapter:
        yield adapter


def add_contact(store: Store, contact_id: str, zone: str | None, at: datetime) -> None:
    """The CRM pull's effect: the mirror row and its contact.created event (which enrols it)."""
    with store.session() as session:
        session.add(ContactRow(crm_id=contact_id, primary_email=f"{contact_id}@customer.example",
                               first_name=contact_id, owner_id=OWNER, updated_at=at,
                               properties=json.dumps({"timezone": zone} if zone else {})))
        record_events(session, [Event(id=event_id("contact.created", contact_id), type="contact.created",
                                      contact_id=contact_id, occurred_at=at, source="crm")])


def next_due(store: Store) -> datetime | None:
    with store.session() as session:
        found = [r.next_due_at for r in session.exec(select(EnrollmentRow)).all() if r.next_due_at is not None]
    return min((d if d.tzinfo else d.replace(tzinfo=UTC) for d in found), default=None)


def run_clock(store: Store, tick: Callable[[datetime], None], arrivals: list[tuple[datetime, str, str | None]],
              max_passes: int = 300) -> None:
    """Jump from one moment to the next (a contact arriving, an enrollment due) and tick there."""
    pending = sorted(arrivals, key=lambda a: a[0])
    now = pending[0][0]
    for _ in range(max_passes):
        while pending and pending[0][0] <= now:
            at, contact_id, zone = pending.pop(0)
            add_contact(store, contact_id, zone, at)
        tick(now)
        moments = [m for m in (pending[0][0] if pending else None, next_due(store)) if m is not None]
        if not moments:
            return
        now = max(now, min(moments))
    raise AssertionError("the simulated clock never ran out of work")


def sends(store: Store) -> dict[tuple[str, int], datetime]:
    """When each step went out, by (contact, step index), from the done send_email rows."""
    with store.session() as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == "send_email")).all()
    out = {}
    for row in rows:
        payload = json.loads(row.payload)
        assert row.status == "done", (row.key, row.status, row.last_error)
        out[(row.contact_id, payload["step_index"])] = datetime.fromisoformat(payload["sent"]["at"])
    return out


def test_sends_stay_in_the_local_window_across_dst_changes(store_url: str, sandbox: SandboxServer,
                                                           gmail_sender: GmailAdapter) -> None:
    store = Store(store_url)
    sequencer = compile_sequences([DST_SEQUENCE], owner_timezones={OWNER: OWNER_ZONE})
    runner = SequenceRunner(store, sequencer, [SendingMailbox(DEFAULT_USER, OWNER, "Rita Rep", OWNER_ZONE)],
                            public_url="https://threadline.test", unsubscribe_secret="s")
    executor = SendExecutor(store, {DEFAULT_USER: gmail_sender}, None, send_check=why_not_send)

    def tick(now: datetime) -> None:
        runner.run(now)
        executor.run(now)

    try:
        run_clock(store, tick, [(created, name, zone) for name, zone, created, *_ in CASES])
        sent = sends(store)
    finally:
        store.dispose()
    assert len(sent) == 3 * len(CASES)
    for name, zone_name, _, first, second, third in CASES:
        zone = ZoneInfo(zone_name or OWNER_ZONE)
        assert (sent[(name, 0)], sent[(name, 1)]) == (first, second), name
        for step in range(3):
            local = sent[(name, step)].astimezone(zone)
            assert local.weekday() < 5 and OPEN <= local.time() < CLOSE, f"{name} step {step + 1} at {local}"
        # The business-day delay crossed the change and kept the local time of day.
        assert sent[(name, 1)].astimezone(zone).time() == sent[(name, 0)].astimezone(zone).time(), name
        # Step 3 comes 3 elapsed hours after step 2, or at the next opening when that is past closing.
        assert sent[(name, 2)].astimezone(zone).time() == third, name
    delivered = Counter(message_id_of(m.raw) for m in sandbox.gmail.messages(DEFAULT_USER) if "SENT" in m.labels)
    assert len(delivered) == 3 * len(CASES) and set(delivered.values()) == {1}
