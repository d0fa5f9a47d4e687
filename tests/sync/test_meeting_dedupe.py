"""One meeting, one meeting.booked: the CRM's meeting and the prospect's "Accepted:" mail do not count twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threadline.sync.events.log import events_for, record_events
from threadline.sync.events.meetings import without_known_meetings
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store

START = datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
AT = datetime(2027, 1, 5, 17, 0, tzinfo=UTC)


def crm_meeting(contact: str, start: datetime | None, meeting_id: str = "m-1") -> Event:
    """As sync/contacts/crm_observations.py records a HubSpot meeting / Salesforce Event."""
    return Event(id=event_id("meeting.booked", meeting_id, contact), type="meeting.booked", contact_id=contact,
                 occurred_at=AT, source="crm",
                 data={"meeting_id": meeting_id, "starts_at": start.isoformat() if start else None})


def mail_meeting(contact: str, start: datetime | None, uid: str = "uid-1@google.com",
                 kind: str = "meeting.booked") -> Event:
    """As sync/mail/calendar_reply.py records an accepted iMIP reply."""
    return Event(id=event_id(kind, "imip", uid, "", contact), type=kind, contact_id=contact, occurred_at=AT,
                 source="mailbox:rita@northwind.example",
                 data={"uid": uid, "starts_at": start.isoformat() if start else None, "response": "accepted"})


def record(store: Store, events: list[Event]) -> int:
    with store.session() as session:
        return record_events(session, without_known_meetings(session, events))


def booked(store: Store, contact: str) -> list[Event]:
    with store.session() as session:
        return [e for e in events_for(session, [contact]).get(contact, []) if e.type == "meeting.booked"]


def test_the_mail_after_the_crm_meeting_is_not_a_second_booking(store_url: str) -> None:
    store = Store(store_url)
    assert record(store, [crm_meeting("c1", START)]) == 1
    # HubSpot keeps milliseconds, a calendar whole seconds: the same start within a minute.
    assert record(store, [mail_meeting("c1", START + timedelta(seconds=20))]) == 0
    assert [e.source for e in booked(store, "c1")] == ["crm"]


def test_the_crm_meeting_after_the_mail_is_not_a_second_booking(store_url: str) -> None:
    store = Store(store_url)
    assert record(store, [mail_meeting("c1", START)]) == 1
    assert record(store, [crm_meeting("c1", START), crm_meeting("c2", START)]) == 1     # c2 has no mail meeting
    assert [e.source for e in booked(store, "c1")] == ["mailbox:rita@northwind.example"]
    assert [e.source for e in booked(store, "c2")] == ["crm"]


def test_other_meetings_and_other_event_types_are_kept(store_url: str) -> None:
    store = Store(store_url)
    record(store, [crm_meeting("c1", START)])
    kept = [mail_meeting("c1", START + timedelta(days=7), uid="next-week"),      # another meeting
            mail_meeting("c1", START, kind="meeting.declined"),                  # not a booking
            mail_meeting("c1", None, uid="no-start"),                            # nothing to compare
            crm_meeting("c1", START + timedelta(seconds=5), meeting_id="m-2")]   # CRM vs CRM: two meetings
    assert record(store, kept) == len(kept)
    # Reading the same mail again is a no-op by id, not by this rule.
    assert record(store, [mail_meeting("c1", START + timedelta(days=7), uid="next-week")]) == 0
