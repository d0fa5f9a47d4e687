"""What the store holds about a person, table by table: the rows to delete, the rows to edit, and the records
outside Threadline's reach (the CRM's, the mailboxes') that the admin must delete where they live.

Pure reads: `threadline forget --dry-run` prints these and changes nothing. A row about the person alone is
deleted; a row shared with someone else (a message logged on two contacts, an activity on a colleague's record
that has the person in Cc) keeps the other person's part and loses the person's.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, SQLModel, col, select

from threadline.sync.privacy.person import Person
from threadline.sync.store.tables import (
    AuditRow,
    ContactAddressRow,
    ContactRow,
    CreatedContactRow,
    DeferredMailRow,
    EnrollmentRow,
    EventRow,
    MessageRow,
    OutboxRow,
    RuleDueRow,
    SyncErrorRow,
    as_utc,
)

_PAGE = 200
#: What an outbox row that reached the CRM left there, by kind (update_contact / set_fields wrote onto the contact).
ACTIVITY_KINDS = {"log_email": "email", "create_task": "task"}


@dataclass(frozen=True)
class CrmRecord:
    """A CRM record about the person that only the CRM can delete. `kind`: contact | lead (the record itself),
    email | task (an activity Threadline logged on it), email_naming (an activity on someone else's record whose
    To/Cc or text names the person). `remote_id` is None when a write's outcome is unknown (it may exist)."""

    kind: str
    remote_id: str | None
    contact_id: str
    outbox_key: str | None = None


@dataclass(frozen=True)
class MailboxCopy:
    """A message about the person in a rep's mailbox (received from them, or a sequence email sent to them)."""

    mailbox: str
    provider_id: str
    what: str


@dataclass
class Findings:
    """Everything found: `deletions` and `edits` (row, new column values) are applied by forget.erase."""

    deletions: list[tuple[str, SQLModel]] = field(default_factory=list)
    edits: list[tuple[str, SQLModel, dict[str, Any]]] = field(default_factory=list)
    crm_records: list[CrmRecord] = field(default_factory=list)
    mailbox_copies: list[MailboxCopy] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)        # outbox keys a replica is performing right now

    def delete(self, table: str, row: SQLModel) -> None:
        self.deletions.append((table, row))

    def edit(self, table: str, row: SQLModel, values: dict[str, Any]) -> None:
        self.edits.append((table, row, values))

    @property
    def removed(self) -> Counter[str]:
        return Counter(table for table, _ in self.deletions)

    @property
    def redacted(self) -> Counter[str]:
        return Counter(table for table, _, _ in self.edits)

    @property
    def changes(self) -> bool:
        """Whether applying these would change the store (rows left to a replica in flight do not)."""
        return bool(self.deletions or self.edits)


def find_all(session: Session, person: Person, now: datetime, *, lock: bool) -> Findings:
    """Every row about `person`. `lock`: take the outbox rows FOR UPDATE (a real forget, not a dry run), so a
    replica finishing one of them waits for this transaction and then finds it gone (outbox.holds)."""
    found = Findings()
    _contacts(session, person, found)
    _messages(session, person, found)
    _deferred_mail(session, person, found)
    _events(session, person, found)
    _outbox(session, person, found, now, lock=lock)
    _audit(session, person, found)
    _by_contact(session, person, found)
    _sync_errors(session, person, found)
    return found


def _ids(person: Person) -> list[str]:
    return sorted(person.contact_ids)


def _mentions(column: Any, person: Person) -> Any:
    """SQL prefilter: the column's text holds the local part (before any +tag) and "@domain" of one of the
    person's addresses; the exact check (case, +tags, aliases) is Person's, in Python."""
    text = func.lower(column)
    return or_(*(and_(text.contains(local, autoescape=True), text.contains(f"@{domain}", autoescape=True))
                 for local, domain in _parts(person)))


def _parts(person: Person) -> list[tuple[str, str]]:
    """(local part without +tag, domain) of each of the person's addresses."""
    return sorted({(a.rpartition("@")[0].split("+", 1)[0], a.rpartition("@")[2]) for a in person.addresses})


def _contacts(session: Session, person: Person, found: Findings) -> None:
    for row in session.exec(select(ContactRow).where(col(ContactRow.crm_id).in_(_ids(person)))).all():
        found.delete("contacts", row)
        found.crm_records.append(CrmRecord(row.object_type, row.crm_id, row.crm_id))
    for created in session.exec(select(CreatedContactRow).where(
            col(CreatedContactRow.crm_id).in_(_ids(person)))).all():      # sync.create_contacts made their record
        found.delete("created_contacts", created)
    for address_row in session.exec(select(ContactAddressRow).where(
            col(ContactAddressRow.contact_id).in_(_ids(person))
            | col(ContactAddressRow.address).in_(sorted(person.addresses)))).all():
        found.delete("contact_addresses", address_row)


def _messages(session: Session, person: Person, found: Findings) -> None:
    """Their messages go (from them, or logged only on them); a message also logged on others loses their id."""
    logged_on = [col(MessageRow.contact_ids).contains(f'"{cid}"', autoescape=True) for cid in _ids(person)]
    sender = func.lower(col(MessageRow.from_address))
    from_domain = [and_(sender.contains(local, autoescape=True), sender.endswith(f"@{domain}", autoescape=True))
                   for local, domain in _parts(person)]
    for row in session.exec(select(MessageRow).where(or_(*logged_on, *from_domain))).all():
        contact_ids = set(json.loads(row.contact_ids or "[]"))
        others = contact_ids - person.contact_ids
        if person.owns_any([row.from_address or ""]) or (contact_ids and not others):
            found.delete("messages", row)
            found.mailbox_copies.append(MailboxCopy(row.mailbox, row.provider_id, f"{row.folder} message"))
        elif contact_ids & person.contact_ids:
            found.edit("messages", row, {"contact_ids": json.dumps(sorted(others))})


def _deferred_mail(session: Session, person: Person, found: Findings) -> None:
    """Mail waiting to be decided again that names them in From, To, Cc or Reply-To (read from its headers)."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    after = 0
    while True:
        rows = session.exec(select(DeferredMailRow).where(col(DeferredMailRow.id) > after)
                            .order_by(col(DeferredMailRow.id)).limit(_PAGE)).all()
        if not rows:
            return
        for row in rows:
            headers = parser.parsebytes(zlib.decompress(row.raw))
            values = [str(v) for name in ("from", "to", "cc", "reply-to") for v in headers.get_all(name, [])]
            if person.owns_any(values):
                found.delete("deferred_mail", row)
                found.mailbox_copies.append(MailboxCopy(row.mailbox, row.provider_id, f"{row.folder} message"))
        after = rows[-1].id or after


def _events(session: Session, person: Person, found: Findings) -> None:
    for row in session.exec(select(EventRow).where(col(EventRow.contact_id).in_(_ids(person)))).all():
        found.delete("events", row)
    for row in session.exec(select(EventRow).where(col(EventRow.contact_id).not_in(_ids(person)),
                                                   _mentions(EventRow.data, person))).all():
        if person.named_in(row.data):        # e.g. a bounce on another record listing the person's address
            found.edit("events", row, {"data": person.redact(row.data)})


def _outbox(session: Session, person: Person, found: Findings, now: datetime, *, lock: bool) -> None:
    query = select(OutboxRow).where(col(OutboxRow.contact_id).in_(_ids(person)) | _mentions(OutboxRow.payload, person))
    for row in session.exec(query.with_for_update() if lock else query).all():
        theirs = row.contact_id in person.contact_ids
        if not theirs and not person.named_in(row.payload):
            continue
        if row.status == "in_flight" and row.lease_until is not None and as_utc(row.lease_until) > now:
            # A replica is performing it right now: deleting it would not stop a request already made. Its fence
            # stops the next request; the row is reported, and forgetting again after the lease finishes the job.
            found.in_flight.append(row.key)
            continue
        _crm_trace(row, theirs, found)
        if theirs or row.kind == "send_email":
            found.delete("outbox", row)
        else:
            found.edit("outbox", row, {"payload": person.redact(row.payload)})


def _crm_trace(row: OutboxRow, theirs: bool, found: Findings) -> None:
    """What this outbox row left outside Threadline: a CRM activity, or a sent email in a rep's mailbox."""
    tried = row.status == "done" or row.attempts > 0     # an attempt whose outcome is unknown may have landed
    if row.kind == "send_email" and row.status == "done":
        payload = json.loads(row.payload)
        found.mailbox_copies.append(MailboxCopy(str(payload.get("mailbox", "")), row.remote_id or "",
                                                f"sequence email ({payload.get('sequence', '')})"))
    elif row.kind in ACTIVITY_KINDS and tried:
        kind = ACTIVITY_KINDS[row.kind] if theirs else f"{ACTIVITY_KINDS[row.kind]}_naming"
        found.crm_records.append(CrmRecord(kind, row.remote_id if row.status == "done" else None, row.contact_id,
                                           row.key))


def _audit(session: Session, person: Person, found: Findings) -> None:
    for row in session.exec(select(AuditRow).where(col(AuditRow.contact_id).in_(_ids(person)))).all():
        found.delete("audit", row)
    for row in session.exec(select(AuditRow).where(
            col(AuditRow.contact_id).not_in(_ids(person)),
            or_(_mentions(AuditRow.detail, person), _mentions(AuditRow.reason, person)))).all():
        if person.named_in(row.detail) or person.named_in(row.reason):
            found.edit("audit", row, {"detail": person.redact(row.detail), "reason": person.redact(row.reason)})


def _by_contact(session: Session, person: Person, found: Findings) -> None:
    """Sequence enrolments (deleting them stops every sequence) and the rules' next-look times."""
    for row in session.exec(select(EnrollmentRow).where(col(EnrollmentRow.contact_id).in_(_ids(person)))).all():
        found.delete("enrollments", row)
    for due in session.exec(select(RuleDueRow).where(col(RuleDueRow.crm_id).in_(_ids(person)))).all():
        found.delete("rule_due", due)


def _sync_errors(session: Session, person: Person, found: Findings) -> None:
    """Recorded errors that name them (an unconfirmed send lists its recipients; a hold lists contact ids)."""
    by_id = [col(SyncErrorRow.message).contains(cid, autoescape=True) for cid in _ids(person)]
    for row in session.exec(select(SyncErrorRow).where(or_(_mentions(SyncErrorRow.message, person), *by_id))).all():
        words = set(row.message.replace(",", " ").replace(":", " ").replace("(", " ").replace(")", " ").split())
        if person.named_in(row.message) or words & person.contact_ids:
            found.delete("sync_errors", row)
