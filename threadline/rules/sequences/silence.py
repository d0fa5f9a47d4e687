"""`contact.silent`: the synthetic event that enrols contacts nobody has exchanged mail with for N days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from threadline.sync.events.records import Event, event_id

#: What ends a silence: mail in either direction, a meeting, or the contact's creation (its start).
ACTIVITY_TYPES = frozenset({"email.sent", "reply.received", "meeting.booked", "contact.created"})


def silence_event(contact_id: str, events: Sequence[Event], now: datetime, days: float) -> Event | None:
    """A ``contact.silent`` event when the contact's last activity is at least ``days`` old, else None.

    The id derives from the last activity and ``days``, so one silent period yields one event however
    often this runs; new activity starts a new period. Contacts with no activity at all yield None.
    """
    moments = [event.occurred_at for event in events if event.type in ACTIVITY_TYPES]
    if not moments:
        return None
    last = max(moments)
    silent_from = last + timedelta(days=days)
    if now < silent_from:
        return None
    return Event(id=event_id("contact.silent", contact_id, last.isoformat(), repr(float(days))),
                 type="contact.silent", contact_id=contact_id, occurred_at=silent_from, source="rules",
                 data={"days": days, "since": last.isoformat()})
