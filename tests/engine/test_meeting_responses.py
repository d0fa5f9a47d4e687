"""A prospect's "Accepted: ..." calendar response is a booked meeting, not a reply: through a real mailbox
(Dovecot IMAP, the Gmail and Graph sandboxes) it stops the prospect's sequence with reason "meeting", records the
message with its reason, and logs no email activity and no reply task in HubSpot.

Step 2 is intended for every contact and the process killed right before the first send (as in
test_sequence_races.py), so the rows wait in the outbox when the response lands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.sequence_world import SEND_PATHS, SequenceWorld, build_world, path_named
from tests.engine.test_sequence_races import (
    TARGET,
    assert_stopped_for_target_only,
    step_two_waits_in_the_outbox,
)
from tests.sync.mail.imip_samples import google_reply, outlook_reply
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import CursorRow, EventRow, MessageRow


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, tls_sandbox: SandboxServer) -> Iterator[SequenceWorld]:
    yield build_world(tmp_path, tls_sandbox, path_named(request.param, request, tls_sandbox, tmp_path), contacts=3)


def stored(world: SequenceWorld) -> tuple[list[MessageRow], list[EventRow]]:
    store = Store(world.store_url, migrate=False)
    try:
        with store.session() as session:
            return (list(session.exec(select(MessageRow)).all()), list(session.exec(select(EventRow)).all()))
    finally:
        store.dispose()


def accepted(world: SequenceWorld, start: datetime) -> bytes:
    """Google's "Accepted: ..." from the target contact (Outlook's on the Graph path, as Microsoft 365 users send)."""
    contact = world.contact_emails[TARGET]
    if world.path.name == "graph":
        return outlook_reply(attendee=contact, name="Buyer Zero", organizer=world.path.address,
                             organizer_name="Rita Rep", start_local=start.strftime("%Y%m%dT100000"),
                             comment="See you then")
    return google_reply(attendee=contact, name="Buyer Zero", organizer=world.path.address, organizer_name="Rita Rep",
                        start=start)


@pytest.mark.parametrize("world", SEND_PATHS, indirect=True)
def test_an_accepted_invitation_stops_the_sequence_as_a_meeting_and_logs_no_email(world: SequenceWorld) -> None:
    step_two_waits_in_the_outbox(world)
    target = world.contact_ids[TARGET]
    start = (datetime.now(UTC) + timedelta(days=6)).replace(hour=18, minute=0, second=0, microsecond=0)
    world.path.deliver_to_inbox(accepted(world, start))
    world.run_until_settled()

    assert_stopped_for_target_only(world, "meeting")
    assert world.activities(target, "incoming") == []
    assert not [t for t in world.tasks(target) if "Reply to sequence" in t.get("hs_task_subject", "")]
    messages, events = stored(world)
    [row] = [m for m in messages if m.from_address == world.contact_emails[TARGET]]
    assert (row.classification, row.decision, json.loads(row.contact_ids)) == ("meeting", "meeting", [target])
    assert row.reason == f"calendar reply: accepted by {world.contact_emails[TARGET]} (meeting.booked)"
    mine = [e for e in events if e.contact_id == target and not e.type.startswith(("sequence", "reply.before"))]
    types = sorted(e.type for e in mine)
    assert "reply.received" not in types and "auto_reply.received" not in types, types
    [meeting] = [e for e in mine if e.type == "meeting.booked"]
    assert meeting.source == f"mailbox:{world.path.address}"
    data = json.loads(meeting.data)
    assert (data["response"], data["method"]) == ("accepted", "REPLY")
    if world.path.name != "graph":
        assert data["starts_at"] == start.isoformat()


@pytest.mark.parametrize("world", ["gmail"], indirect=True)
def test_the_same_meeting_from_mail_twice_and_from_the_crm_is_booked_once(world: SequenceWorld) -> None:
    """The response delivered twice (a resend) is one meeting.booked; the meeting the rep's calendar sync then
    puts in HubSpot, at the same start, is read by the CRM's meeting pull and not booked a second time."""
    step_two_waits_in_the_outbox(world)
    target = world.contact_ids[TARGET]
    start = (datetime.now(UTC) + timedelta(days=6)).replace(hour=18, minute=0, second=0, microsecond=0)
    raw = accepted(world, start)
    world.path.deliver_to_inbox(raw)
    world.path.deliver_to_inbox(raw.replace(b"Message-ID: <calendar-", b"Message-ID: <calendar-resent-"))
    world.run_until_settled()
    assert_stopped_for_target_only(world, "meeting")
    messages, events = stored(world)
    rows = [m for m in messages if m.from_address == world.contact_emails[TARGET]]
    assert [(m.classification, m.decision) for m in rows] == [("meeting", "meeting")] * 2
    [booked] = [e for e in events if e.contact_id == target and e.type == "meeting.booked"]

    before = meetings_cursor(world)
    world.sandbox.hubspot.add_meeting(target, start, title="Northwind demo")
    done = world.sync()
    assert done.returncode == 0, done.stderr[-2000:]
    assert meetings_cursor(world) != before, "the CRM's meeting pull did not read the new meeting"
    _, events = stored(world)
    assert [e.id for e in events if e.contact_id == target and e.type == "meeting.booked"] == [booked.id]
    assert world.activities(target, "incoming") == []


def meetings_cursor(world: SequenceWorld) -> str | None:
    store = Store(world.store_url, migrate=False)
    try:
        with store.session() as session:
            row = session.exec(select(CursorRow).where(CursorRow.source == "crm:hubspot:meetings")).first()
            return None if row is None else str(row.data)
    finally:
        store.dispose()
