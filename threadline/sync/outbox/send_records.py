"""What the send executor writes: each outcome of a `send_email` row, in the caller's transaction.

A done send commits with everything it causes (the enrollment advanced, the outgoing
activity intended for the CRM, an `email.sent` event, an audit row), so a crash leaves
either all of it or none of it; none of it is repaired by `find_sent` on the next pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from threadline.adapters.records import EmailActivity
from threadline.adapters.sending import OutgoingEmail, SentRef
from threadline.sync.contacts.mirror import surviving_contact
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.keys import log_email_key, message_identity
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.store.tables import AuditRow, EnrollmentRow, OutboxRow, as_utc, utcnow
from threadline.sync.store.upsert import insert_ignore

SEND_KIND = "send_email"


@dataclass(frozen=True)
class SendRow:
    """A claimed `send_email` outbox row, read: its payload per the sequences contract and the email in it."""

    id: int
    key: str
    contact_id: str
    attempts: int
    payload: dict[str, Any]
    first_failure_at: datetime | None = None     # when the give-up horizon started (retry_policy.py)

    @classmethod
    def of(cls, row: OutboxRow) -> SendRow:
        assert row.id is not None
        return cls(row.id, row.key, row.contact_id, row.attempts, json.loads(row.payload),
                   as_utc(row.first_attempt_at) if row.first_attempt_at else None)

    @property
    def email(self) -> OutgoingEmail:
        return OutgoingEmail.model_validate(self.payload["email"])

    @property
    def mailbox(self) -> str:
        return str(self.payload["mailbox"])

    @property
    def sequence(self) -> str:
        return str(self.payload["sequence"])

    @property
    def step_index(self) -> int:
        return int(self.payload["step_index"])

    @property
    def submitted_at(self) -> datetime | None:
        """When an earlier attempt handed the mail to the provider without learning the outcome."""
        value = self.payload.get("submitted_at")
        return as_utc(datetime.fromisoformat(value)) if value else None


def _row(session: Session, send: SendRow) -> OutboxRow:
    row = session.get(OutboxRow, send.id)
    assert row is not None, f"send_email row {send.key} vanished"
    return row


def enrollment_row(session: Session, send: SendRow) -> EnrollmentRow | None:
    """The enrollment this send belongs to (None once it is gone)."""
    return session.get(EnrollmentRow, (send.sequence, send.contact_id, int(send.payload["generation"])))


def mark_submitted(session: Session, send: SendRow, at: datetime) -> None:
    """Commit, before the provider may accept the mail, that this attempt hands it over."""
    row = _row(session, send)
    payload = json.loads(row.payload)
    payload["submitted_at"] = at.isoformat()
    row.payload = json.dumps(payload, sort_keys=True)
    row.updated_at = utcnow()
    session.add(row)


def record_sent(session: Session, send: SendRow, ref: SentRef, at: datetime, *, confirmed: bool,
                owner_id: str | None) -> None:
    """The row done with what the provider said, the enrollment advanced, the outgoing activity intended."""
    row = _row(session, send)
    payload = json.loads(row.payload)
    payload["sent"] = {"provider_id": ref.provider_id, "thread_id": ref.thread_id, "at": at.isoformat(),
                       "confirmed": confirmed}
    row.payload = json.dumps(payload, sort_keys=True)
    outbox.mark_done(row, ref.provider_id or ref.message_id)
    session.add(row)
    _advance(session, send, at)
    contact_id = surviving_contact(session, send.contact_id)
    activity = _activity(send, ref, at, contact_id, owner_id)
    intend(session, [Intent(activity.key, "log_email", contact_id, activity.model_dump(mode="json"))])
    record_events(session, [_sent_event(send, at, contact_id)])
    insert_ignore(session, AuditRow, [{
        "at": utcnow(), "rule": f"sequence:{send.sequence}", "contact_id": contact_id, "effect_key": activity.key,
        "kind": "log_email", "reason": f"step {send.step_index + 1} of sequence {send.sequence} sent from "
        f"{send.mailbox}" + ("" if confirmed else " (unconfirmed: the mail may not have gone out)"),
        "detail": activity.model_dump_json()}], ["effect_key"])


def _advance(session: Session, send: SendRow, at: datetime) -> None:
    """On to the payload's next_step (completed after the last); next_due_at = now so the runner schedules it."""
    enrollment = enrollment_row(session, send)
    if enrollment is None or enrollment.step != send.step_index:
        return                      # already advanced (or gone): recording twice changes nothing
    # Rows written before branching carry no next_step: theirs is the next in the list.
    following = send.payload.get("next_step")
    enrollment.step = int(following) if following is not None else enrollment.step + 1
    enrollment.last_step_at = at
    if send.payload.get("last_step"):
        enrollment.status, enrollment.next_due_at = "completed", None
    else:
        enrollment.next_due_at = at
    enrollment.updated_at = utcnow()
    session.add(enrollment)


def _activity(send: SendRow, ref: SentRef, at: datetime, contact_id: str, owner_id: str | None) -> EmailActivity:
    email = send.email
    # The key the mailbox sync computes when it later meets this mail in Sent: logged once either way.
    key = log_email_key(message_identity(email.message_id, send.mailbox, ""), contact_id)
    thread = ref.thread_id or (email.references[0] if email.references else email.in_reply_to) or email.message_id
    return EmailActivity(key=key, contact_id=contact_id, direction="outgoing", occurred_at=at, subject=email.subject,
                         text=email.text, from_address=email.from_address, to_addresses=email.to,
                         message_id=email.message_id, thread_ref=thread, owner_id=owner_id)


def _sent_event(send: SendRow, at: datetime, contact_id: str) -> Event:
    """The same event (same id) the mailbox sync records for this mail: it ends the contact's silence."""
    email = send.email
    return Event(id=event_id("email.sent", message_identity(email.message_id, send.mailbox, ""), contact_id),
                 type="email.sent", contact_id=contact_id, occurred_at=at, source=f"mailbox:{send.mailbox}",
                 data={"subject": email.subject, "message_id": email.message_id, "mailbox": send.mailbox,
                       "sequence": send.sequence, "step": send.step_index})


def cancel(session: Session, send: SendRow, reason: str, now: datetime) -> None:
    """Nothing is sent: the row is cancelled with the reason and the runner looks at the enrollment now."""
    row = _row(session, send)
    row.status, row.last_error = "cancelled", reason[:1000]
    row.lease_owner = row.lease_until = None
    row.updated_at = utcnow()
    session.add(row)
    enrollment = enrollment_row(session, send)
    if enrollment is not None and enrollment.status in ("active", "paused"):
        enrollment.next_due_at = now
        enrollment.updated_at = utcnow()
        session.add(enrollment)


def retry(session: Session, send: SendRow, error: str, delay: timedelta, *, not_submitted: bool = False,
          counted: bool = True) -> None:
    """Back to pending after `delay`. `not_submitted`: the provider refused outright, forget the hand-over.
    `counted=False`: no provider attempt was made (held, parked): the claim does not count as an attempt."""
    row = _row(session, send)
    if not_submitted:
        payload = json.loads(row.payload)
        payload.pop("submitted_at", None)
        row.payload = json.dumps(payload, sort_keys=True)
    if counted:
        row.first_attempt_at = row.first_attempt_at or utcnow()
        outbox.mark_retry(row, error, delay)
    else:
        outbox.give_back(row, error, delay)
    session.add(row)


def fail(session: Session, send: SendRow, error: str) -> None:
    row = _row(session, send)
    row.first_attempt_at = row.first_attempt_at or utcnow()
    outbox.mark_failed(row, error)
    session.add(row)
