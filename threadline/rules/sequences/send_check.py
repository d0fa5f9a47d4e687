"""The last check before a sequence email goes out: is the enrollment still on this step, and do the
sequence's stop rules, applied to the contact's freshest stored events, still let it go?

The send executor (in the engine) calls this through its `SendCheck` hook; wiring hands it over, so the
engine never imports the rule layer.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlmodel import Session

from threadline.rules.sequences.stops import stop_reason
from threadline.rules.sequences.store import to_enrollment
from threadline.sync.contacts.mirror import surviving_contact
from threadline.sync.events.log import events_for
from threadline.sync.outbox.send_records import SendRow, enrollment_row
from threadline.sync.store.tables import as_utc


def why_not_send(session: Session, send: SendRow, now: datetime,
                 meeting_goes_on: Collection[str] = ()) -> str | None:
    """Why this step must not go out now (the contact's freshest stored events), or None to send it.
    ``meeting_goes_on``: the sequences a booked meeting does not end (``exit_on_meeting: false``)."""
    row = enrollment_row(session, send)
    if row is None:
        return "enrollment_missing"
    if row.status in ("exited", "completed"):
        return row.exit_reason or row.status        # the runner stopped it first: say why
    if row.step != send.step_index:
        return f"step_moved:{row.step}"
    contacts = {send.contact_id, surviving_contact(session, send.contact_id)}
    found = events_for(session, contacts)
    events = sorted((e.model_copy(update={"occurred_at": as_utc(e.occurred_at)}) for c in contacts for e in found[c]),
                    key=lambda e: e.occurred_at)
    return stop_reason(to_enrollment(row), events, now, exit_on_meeting=send.sequence not in meeting_goes_on)
