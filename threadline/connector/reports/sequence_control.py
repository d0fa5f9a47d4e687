"""Manual stop and resume of a contact's sequences (`threadline sequence stop|resume`).

Both are events (`sequence.stopped` / `sequence.resumed`, the same ones POST /events accepts), so
they take the path every other stop takes: the next cycle applies them, and a send already
scheduled is checked against them right before it would go out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from threadline.rules.sequences.stops import MANUAL_RESUME, MANUAL_STOP
from threadline.sync.contacts.mirror import contacts_for_address
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow


def resolve_contact(store: Store, who: str) -> str | None:
    """A contact id from a CRM id or an email address (None when the mirror does not know it)."""
    with store.session() as session:
        if session.get(ContactRow, who):
            return who
        found = contacts_for_address(session, who.strip().lower())
    return found[0] if found else None


def record_manual(store: Store, contact_id: str, action: str, sequence: str | None,
                  now: datetime | None = None) -> Event:
    """Record a manual stop ("stop") or resume ("resume") for one sequence, or all of them (None)."""
    at = now or datetime.now(UTC)
    kind = {"stop": MANUAL_STOP, "resume": MANUAL_RESUME}[action]
    target = sequence or "*"
    event = Event(id=event_id(kind, contact_id, target, at.isoformat()), type=kind, contact_id=contact_id,
                  occurred_at=at, source="api", data={"sequence": target, "via": "cli"})
    with store.session() as session:
        record_events(session, [event])
    return event
