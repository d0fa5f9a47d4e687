"""Seeding the store the way the sequence runner leaves it for the send executor (the common contract)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlmodel import select

from threadline.adapters.sending import OutgoingEmail
from threadline.rules.sequences.steps import step_key
from threadline.rules.sequences.unsubscribe_links import list_unsubscribe_headers, unsubscribe_url
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.outbox.keys import log_email_key, message_identity
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactAddressRow, ContactRow, EnrollmentRow, OutboxRow, SyncErrorRow

PUBLIC_URL, SECRET = "https://threadline.example", "unsubscribe-secret"
CONTACT = "c-101"
BUYER = "buyer@customer.example"
SEQUENCE = "welcome"


@dataclass(frozen=True)
class SeededSend:
    key: str
    email: OutgoingEmail
    contact_id: str
    generation: int = 1


def seed_contact(store: Store, contact_id: str = CONTACT, address: str = BUYER, owner_id: str = "owner-1") -> None:
    with store.session() as session:
        session.merge(ContactRow(crm_id=contact_id, primary_email=address, first_name="Pat", owner_id=owner_id,
                                 updated_at=datetime.now(UTC)))
        session.merge(ContactAddressRow(address=address, contact_id=contact_id))


def seed_send(store: Store, mailbox: str, *, step_index: int = 0, last_step: bool = False,
              enrolled_at: datetime | None = None, contact_id: str = CONTACT, to: str = BUYER,
              previous: OutgoingEmail | None = None, thread_id: str | None = None,
              extra: dict[str, Any] | None = None, enrollment_status: str = "active") -> SeededSend:
    """A contact, its enrollment awaiting step `step_index`'s send, and the send_email row for it."""
    seed_contact(store, contact_id, to)
    key = step_key(SEQUENCE, contact_id, 1, step_index)
    domain = mailbox.split("@", 1)[1]
    url = unsubscribe_url(PUBLIC_URL, SECRET, contact_id)
    email = OutgoingEmail(
        key=key, message_id=f"<tl-{key}@{domain}>", from_address=mailbox, from_name="Rita Rep", to=(to,),
        subject="Welcome" if previous is None else "Re: Welcome", text=f"Hello Pat, step {step_index + 1}.\n{url}",
        in_reply_to=previous.message_id if previous else None,
        references=(*previous.references, previous.message_id) if previous else (),
        thread_id=thread_id, headers=list_unsubscribe_headers(url))
    payload = {"sequence": SEQUENCE, "generation": 1, "step_index": step_index, "last_step": last_step,
               "mailbox": mailbox, "email": email.model_dump(mode="json"), **(extra or {})}
    enrolled = enrolled_at or datetime.now(UTC) - timedelta(days=3)
    with store.session() as session:
        session.merge(EnrollmentRow(sequence=SEQUENCE, contact_id=contact_id, generation=1, status=enrollment_status,
                                    step=step_index, enrolled_at=enrolled, mailbox=mailbox, next_due_at=None,
                                    last_step_at=enrolled + timedelta(days=1) if step_index else None))
        intend(session, [Intent(key, "send_email", contact_id, payload)])
    return SeededSend(key, email, contact_id)


def reply_event(store: Store, contact_id: str = CONTACT, at: datetime | None = None) -> None:
    """A reply the mailbox sync already recorded (before the executor runs)."""
    when = at or datetime.now(UTC) - timedelta(minutes=5)
    with store.session() as session:
        record_events(session, [Event(id=event_id("reply.received", "r-1", contact_id), type="reply.received",
                                      contact_id=contact_id, occurred_at=when, source="mailbox:rep",
                                      data={"subject": "Re: Welcome", "text": "Not interested"})])


def reply_mail(rep: str, sender: str = BUYER, in_reply_to: str | None = None) -> bytes:
    """The contact's reply as it lands in the rep's INBOX."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rep, "Re: Welcome"
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(minutes=1))
    msg["Message-ID"] = "<reply-1@customer.example>"
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content("Thanks, please stop emailing me.\n")
    return msg.as_bytes()


def outbox_row(store: Store, key: str) -> OutboxRow:
    with store.session() as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.key == key)).one()
    return row


def payload(store: Store, key: str) -> dict[str, Any]:
    return dict(json.loads(outbox_row(store, key).payload))


def enrollment(store: Store, contact_id: str = CONTACT) -> EnrollmentRow:
    with store.session() as session:
        return session.exec(select(EnrollmentRow).where(EnrollmentRow.contact_id == contact_id)).one()


def log_intents(store: Store) -> list[OutboxRow]:
    with store.session() as session:
        return list(session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email")).all())


def log_key(message_id: str, mailbox: str, contact_id: str = CONTACT) -> str:
    """The key the mailbox sync would compute for this mail in Sent (so it is logged once)."""
    return log_email_key(message_identity(message_id, mailbox, ""), contact_id)


def errors(store: Store, kind: str) -> list[str]:
    with store.session() as session:
        return list(session.exec(select(SyncErrorRow.message).where(SyncErrorRow.kind == kind)).all())


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def set_row(store: Store, key: str, **values: Any) -> None:
    """Move a row as time or a dead process would (next_attempt_at passed, status in_flight, ...)."""
    with store.session() as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.key == key)).one()
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
