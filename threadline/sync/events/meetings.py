"""One meeting, one `meeting.booked`: the CRM's meeting pull and the mailbox's calendar responses agree.

A meeting the prospect accepts is seen twice: the "Accepted: ..." iMIP message in the rep's mailbox
(sync/mail/calendar_reply.py) and, once the rep's calendar is synced into the CRM, a HubSpot meeting or a
Salesforce Event (sync/contacts/crm_observations.py). Their ids cannot agree (the CRM does not expose the
iCalendar UID), so a `meeting.booked` event is dropped when the same contact already has one from the other
origin for the same start time: whichever is seen first is the one recorded, and scoring counts the meeting once.
Events without a start time are never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from threadline.sync.events.records import Event
from threadline.sync.store.tables import EventRow

BOOKED = "meeting.booked"
#: Calendar clients and CRMs round start times differently (seconds, milliseconds): within this is the same start.
SAME_START = timedelta(minutes=1)


def without_known_meetings(session: Session, events: Sequence[Event]) -> list[Event]:
    """`events` less the `meeting.booked` ones whose contact already has a stored `meeting.booked` from the
    other origin (CRM vs mailbox) starting at the same time. Other events pass unchanged."""
    booked = [e for e in events if e.type == BOOKED and _start(e.data.get("starts_at")) is not None]
    if not booked:
        return list(events)
    rows = session.exec(select(EventRow.id, EventRow.contact_id, EventRow.source, EventRow.data).where(
        EventRow.type == BOOKED, col(EventRow.contact_id).in_({e.contact_id for e in booked}))).all()
    stored = [(id_, contact, _origin(source), _start(json.loads(data).get("starts_at")))
              for id_, contact, source, data in rows]
    return [e for e in events if not (e.type == BOOKED and _known(e, stored))]


def _known(event: Event, stored: list[tuple[str, str, str, datetime | None]]) -> bool:
    start = _start(event.data.get("starts_at"))
    origin = _origin(event.source)
    return start is not None and any(
        id_ != event.id and contact == event.contact_id and other != origin and at is not None
        and abs(at - start) <= SAME_START for id_, contact, other, at in stored)


def _origin(source: str) -> str:
    return "mailbox" if source.startswith("mailbox:") else source


def _start(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
