"""Two people in a store, as sync, the rules and the sequences leave them: Ada (two addresses in the CRM, writing
with a +tag and through an alias, Cc'd on Bob's mail) and Bob. Used by the `threadline forget` tests."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select

from threadline.adapters.records import CrmContact
from threadline.sync.contacts.mirror import save_contacts
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.rows import Intent
from threadline.sync.store.database import Store
from threadline.sync.store.tables import (
    AuditRow,
    CreatedContactRow,
    DeferredMailRow,
    EnrollmentRow,
    MessageRow,
    OutboxRow,
    RuleDueRow,
    SyncErrorRow,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REP = "dana@rep.example"
ADA, ADA_WORK, ADA_ALIAS = "ada@acme.io", "ada.lovelace@acme.io", "ada.l@acme-alias.io"
ADA_ID, ADA_DUPLICATE = "ada-101", "ada-dup-103"
BOB, BOB_ID = "bob@beta.io", "bob-202"
POLICY = AddressPolicy(internal_domains=frozenset({"rep.example"}), aliases={ADA_ALIAS: ADA})
#: Every form Ada's addresses take in the store: what must be gone after she is forgotten.
ADA_FORMS = ("ada@acme.io", "ada+news@acme.io", "ada.lovelace@acme.io", "ada.l@acme-alias.io")


@dataclass(frozen=True)
class Seeded:
    """Remote ids the seeded outbox rows say the CRM and the rep's mailbox gave back."""

    ada_emails: tuple[str, ...] = ("hs-email-1", "hs-email-2")
    ada_task: str = "hs-task-7"
    bob_email_naming_ada: str = "hs-email-3"
    bob_email: str = "hs-email-4"
    ada_sent: str = "gm-sent-1"


def mail(sender: str, to: str, subject: str, cc: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if cc:
        message["Cc"] = cc
    message["Message-ID"] = f"<{abs(hash((sender, subject)))}@example>"
    message.set_content(f"{subject}: the text")
    return message.as_bytes()


def activity(key: str, contact_id: str, sender: str, text_: str, cc: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"key": key, "contact_id": contact_id, "direction": "incoming", "occurred_at": NOW.isoformat(),
            "subject": "Re: pilot", "text": text_, "from_address": sender, "to_addresses": [REP],
            "cc_addresses": list(cc), "message_id": f"<{key}@example>", "thread_ref": None, "owner_id": "o1"}


def seed(store: Store) -> Seeded:
    """Both people, in every table that can hold something about a person."""
    seeded = Seeded()
    with store.session() as session:
        save_contacts(session, [
            CrmContact(id=ADA_ID, emails=(ADA, ADA_WORK), first_name="Ada", updated_at=NOW),
            CrmContact(id=ADA_DUPLICATE, emails=(ADA_WORK,), first_name="Ada", updated_at=NOW, object_type="lead"),
            CrmContact(id=BOB_ID, emails=(BOB,), first_name="Bob", updated_at=NOW)], POLICY)
        _messages(session)
        _deferred(session)
        _events(session)
        _outbox(session, seeded)
        _rule_rows(session)
    return seeded


def _messages(session: Session) -> None:
    def message(n: int, sender: str, contacts: list[str], reply: str | None, decision: str = "logged") -> MessageRow:
        return MessageRow(mailbox=REP, provider_id=f"p{n}", folder="inbox", message_id=f"<m{n}@x>", from_address=sender,
                          subject=f"subject {n}", classification="reply", decision=decision,
                          contact_ids=json.dumps(contacts), reply_text=reply, seen_at=NOW)

    session.add_all([
        message(1, "Ada+news@acme.io", [ADA_ID], "Ada's own words"),
        message(2, ADA_WORK, [ADA_ID, ADA_DUPLICATE], "more of Ada's words"),
        message(3, BOB, [ADA_ID, BOB_ID], "Bob writing, Ada in Cc"),
        message(4, BOB, [BOB_ID], "Bob alone"),
        message(5, ADA_ALIAS, [], None, "skipped"),
    ])


def _deferred(session: Session) -> None:
    for n, raw in enumerate([mail(ADA, REP, "from Ada"), mail("carol@gamma.io", REP, "Ada in Cc", cc=f"Ada <{ADA}>"),
                             mail("dave@delta.io", REP, "nobody we know")]):
        session.add(DeferredMailRow(mailbox=REP, provider_id=f"d{n}", folder="inbox", raw=zlib.compress(raw),
                                    deferred_at=NOW))


def _events(session: Session) -> None:
    def event(n: int, type_: str, contact_id: str, **data: Any) -> Event:
        return Event(id=f"e{n}", type=type_, contact_id=contact_id, occurred_at=NOW - timedelta(hours=n),
                     source=f"mailbox:{REP}", data=data)

    record_events(session, [
        event(1, "reply.received", ADA_ID, subject="Re: pilot", text="Ada's own words"),
        event(2, "email.sent", ADA_DUPLICATE, subject="Hello"),
        event(3, "reply.received", BOB_ID, subject="Re: pilot", text=f"adding {ADA_WORK} here"),
        event(4, "reply.received", BOB_ID, subject="Re: pricing", text="Bob alone"),
    ])


def _outbox(session: Session, seeded: Seeded) -> None:
    rows = [
        Intent("le-ada-1", "log_email", ADA_ID, activity("le-ada-1", ADA_ID, ADA, "Ada's own words")),
        Intent("le-ada-2", "log_email", ADA_ID, activity("le-ada-2", ADA_ID, ADA_WORK, "more")),
        Intent("ct-ada", "create_task", ADA_ID, {"subject": "Call Ada"}),
        Intent("se-ada-1", "send_email", ADA_ID, {"mailbox": REP, "sequence": "welcome", "email": {"to": [ADA]}}),
        Intent("se-ada-2", "send_email", ADA_ID, {"mailbox": REP, "sequence": "welcome", "email": {"to": [ADA]}}),
        Intent("uc-ada", "update_contact", ADA_DUPLICATE, {"contact_id": ADA_DUPLICATE}),
        Intent("le-bob-1", "log_email", BOB_ID, activity("le-bob-1", BOB_ID, BOB, "Bob writing", cc=(ADA_WORK,))),
        Intent("le-bob-2", "log_email", BOB_ID, activity("le-bob-2", BOB_ID, BOB, "Bob alone")),
        Intent("le-bob-3", "log_email", BOB_ID, activity("le-bob-3", BOB_ID, BOB, "Bob, pending", cc=(ADA,))),
    ]
    outbox.intend(session, rows)
    done = {"le-ada-1": seeded.ada_emails[0], "le-ada-2": seeded.ada_emails[1], "ct-ada": seeded.ada_task,
            "se-ada-1": seeded.ada_sent, "le-bob-1": seeded.bob_email_naming_ada, "le-bob-2": seeded.bob_email}
    session.flush()
    for row in session.exec(select(OutboxRow)).all():
        if row.key in done:
            outbox.mark_done(row, done[row.key])
            row.attempts = 1
            session.add(row)


def _rule_rows(session: Session) -> None:
    for contact_id in (ADA_ID, BOB_ID):
        session.add(EnrollmentRow(sequence="welcome", contact_id=contact_id, generation=1, status="active",
                                  enrolled_at=NOW, next_due_at=NOW + timedelta(days=2), mailbox=REP))
        session.add(RuleDueRow(crm_id=contact_id, due_at=NOW + timedelta(days=1), reason="decay"))
        session.add(AuditRow(at=NOW, rule="sequence:welcome", contact_id=contact_id, effect_key=f"audit-{contact_id}",
                             kind="log_email", reason="step 1 of sequence welcome sent",
                             detail=json.dumps(activity("x", contact_id, REP, "Hi", cc=(ADA,) if contact_id == BOB_ID
                                                        else ()))))
    session.add_all([      # sync.create_contacts made Ada's duplicate (a lead) from her mail, and Bob's record
        CreatedContactRow(key="cc-ada", crm_id=ADA_DUPLICATE, object_type="lead", created=True, mode="all_external",
                          mailbox=REP, at=NOW),
        CreatedContactRow(key="cc-bob", crm_id=BOB_ID, object_type="contact", created=True, mode="all_external",
                          mailbox=REP, at=NOW)])
    session.add_all([
        SyncErrorRow(source="sequences", kind="send_unconfirmed", message=f"se-ada-1: <m@x> to {ADA} was handed over"),
        SyncErrorRow(source="sequences", kind="no_mailbox", message=f"held (held for 1 contact(s): {ADA_ID})"),
        SyncErrorRow(source=f"mailbox:{REP}", kind="TransientError", message="503 from the server"),
    ])


def every_row(store: Store) -> dict[str, list[str]]:
    """Every row of every table, as text (binary columns decompressed when they are mail)."""
    found: dict[str, list[str]] = {}
    with store.engine.connect() as connection:
        for table in sorted(set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables)):
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            found[table] = [" | ".join(_as_text(value) for value in row) for row in rows]
    return found


def _as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        try:
            return zlib.decompress(bytes(value)).decode("utf-8", "replace")
        except zlib.error:
            return bytes(value).decode("utf-8", "replace")
    return str(value)


def rows_about(store: Store, *needles: str) -> dict[str, list[str]]:
    """Rows (by table) whose text holds any of `needles`, case-insensitively."""
    lowered = [n.lower() for n in needles]
    return {table: hits for table, rows in every_row(store).items()
            if (hits := [row for row in rows if any(n in row.lower() for n in lowered)])}
