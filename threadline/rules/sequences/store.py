"""The sequence runner's reads and writes: enrollment rows <-> Enrollment, and the bulk queries it runs.

Every read here takes a batch of ids and runs one IN query per chunk (never one query per row), so
the runner's cost grows with the number of due steps, not with round trips.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from threadline.rules.sequences import Enrollment
from threadline.rules.sequences.enrollment import OPEN_STATUSES, Status
from threadline.sync.events.records import Event
from threadline.sync.store.by_contact import not_by_index
from threadline.sync.store.tables import ContactRow, EnrollmentRow, EventRow, OutboxRow, as_utc, utcnow

SEND_EMAIL = "send_email"
CHUNK = 500




def chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    """Distinct ids, sorted, in lists short enough for one `IN (...)`."""
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), CHUNK):
        yield wanted[start:start + CHUNK]


# -- enrollments -------------------------------------------------------------------------------------

def to_enrollment(row: EnrollmentRow) -> Enrollment:
    """The pure-layer view of a stored enrollment."""
    # cast: the status column is only ever written from an Enrollment's status.
    return Enrollment(sequence=row.sequence, contact_id=row.contact_id, enrolled_at=as_utc(row.enrolled_at),
                      status=cast(Status, row.status), step=row.step, paused_until=as_utc(row.paused_until),
                      exit_reason=row.exit_reason, last_step_at=as_utc(row.last_step_at), generation=row.generation,
                      variants=variants_from(row.variants))


def variants_from(text: str | None) -> tuple[tuple[int, str], ...]:
    """The stored variants column as the pure layer's (step index, variant) pairs."""
    return tuple(sorted((int(step), str(name)) for step, name in json.loads(text).items())) if text else ()


def variants_text(variants: tuple[tuple[int, str], ...]) -> str | None:
    return json.dumps({str(step): name for step, name in variants}, sort_keys=True) if variants else None


def new_rows(enrollments: Sequence[tuple[Enrollment, datetime | None]]) -> list[dict[str, Any]]:
    """Insert values for enrollments the pure layer just created, each with its next_due_at."""
    now = utcnow()
    return [{"sequence": e.sequence, "contact_id": e.contact_id, "generation": e.generation, "status": e.status,
             "step": e.step, "enrolled_at": as_utc(e.enrolled_at), "last_step_at": as_utc(e.last_step_at),
             "paused_until": as_utc(e.paused_until), "exit_reason": e.exit_reason, "updated_at": now,
             "next_due_at": as_utc(due), "mailbox": None, "variants": variants_text(e.variants)}
            for e, due in enrollments]


ENROLLMENT_KEY = ("sequence", "contact_id", "generation")


def write_back(row: EnrollmentRow, enrollment: Enrollment, next_due_at: datetime | None,
               mailbox: str | None = None) -> None:
    """Copy the pure layer's decision onto the row (the caller's session flushes it)."""
    row.status, row.step, row.exit_reason = enrollment.status, enrollment.step, enrollment.exit_reason
    row.paused_until = as_utc(enrollment.paused_until)
    row.last_step_at = as_utc(enrollment.last_step_at)
    row.next_due_at = as_utc(next_due_at)
    row.variants = variants_text(enrollment.variants)
    if mailbox is not None:
        row.mailbox = mailbox
    row.updated_at = utcnow()


def stored_as_given(session: Session, enrollments: Iterable[Enrollment]) -> list[Enrollment]:
    """Those of ``enrollments`` whose row holds this very enrolment, not one another replica inserted first
    (an insert_ignore keeps that one). One read per enrollment: call it only for the few that need it."""
    found = []
    for enrollment in enrollments:
        row = session.get(EnrollmentRow, (enrollment.sequence, enrollment.contact_id, enrollment.generation))
        if row is not None and as_utc(row.enrolled_at) == as_utc(enrollment.enrolled_at):
            found.append(enrollment)
    return found


def enrollments_of(session: Session, contact_ids: Iterable[str]) -> dict[str, list[EnrollmentRow]]:
    """Every enrollment (any status, any sequence) of these contacts."""
    found: dict[str, list[EnrollmentRow]] = defaultdict(list)
    for chunk in chunks(contact_ids):
        for row in session.exec(select(EnrollmentRow).where(col(EnrollmentRow.contact_id).in_(chunk))).all():
            found[row.contact_id].append(row)
    return found


def _open_due(until: datetime) -> Any:
    return select(EnrollmentRow).where(col(EnrollmentRow.status).in_(sorted(OPEN_STATUSES)),
                                       col(EnrollmentRow.next_due_at).is_not(None),
                                       col(EnrollmentRow.next_due_at) <= until)


def due_rows(session: Session, now: datetime, limit: int) -> list[EnrollmentRow]:
    """Open enrollments whose next_due_at has come, earliest first (uses the next_due_at index)."""
    query = _open_due(now).order_by(col(EnrollmentRow.next_due_at), col(EnrollmentRow.contact_id),
                                    col(EnrollmentRow.sequence)).limit(limit)
    return list(session.exec(query).all())


def open_positions(session: Session, sequences: Sequence[str]) -> Iterable[tuple[str, int, str | None]]:
    """(sequence, step, variants column) of every open enrollment of these sequences, streamed in batches."""
    query = select(EnrollmentRow.sequence, EnrollmentRow.step, EnrollmentRow.variants).where(
        col(EnrollmentRow.status).in_(sorted(OPEN_STATUSES)), col(EnrollmentRow.sequence).in_(sorted(sequences)))
    yield from session.exec(query.execution_options(yield_per=CHUNK))


def count_due(session: Session, until: datetime) -> int:
    query = select(func.count()).select_from(EnrollmentRow).where(
        col(EnrollmentRow.status).in_(sorted(OPEN_STATUSES)), col(EnrollmentRow.next_due_at).is_not(None),
        col(EnrollmentRow.next_due_at) <= until)
    return int(session.exec(query).one())


def due_by(session: Session, until: datetime) -> list[EnrollmentRow]:
    """Every open enrollment due by ``until``, earliest first (what `threadline plan` looks at)."""
    return list(session.exec(_open_due(until).order_by(
        col(EnrollmentRow.next_due_at), col(EnrollmentRow.contact_id), col(EnrollmentRow.sequence))).all())


# -- contacts and events -----------------------------------------------------------------------------

def contact_rows(session: Session, contact_ids: Iterable[str]) -> dict[str, ContactRow]:
    """These contacts' mirror rows, deleted and merged ones included (the caller decides what they mean)."""
    found: dict[str, ContactRow] = {}
    for chunk in chunks(contact_ids):
        for row in session.exec(select(ContactRow).where(col(ContactRow.crm_id).in_(chunk))).all():
            found[row.crm_id] = row
    return found


def events_with_seq(session: Session, contact_ids: Iterable[str],
                    types: Iterable[str] | None = None) -> dict[str, list[tuple[int, Event]]]:
    """Every stored event of these contacts (optionally only some types) with its arrival seq, oldest first."""
    found: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for chunk in chunks(contact_ids):
        query = select(EventRow).where(col(EventRow.contact_id).in_(chunk))
        if types is not None:      # by contact, never by the type index (see by_contact.py)
            query = query.where(not_by_index(EventRow.type).in_(sorted(types)))
        for row in session.exec(query.order_by(col(EventRow.occurred_at), col(EventRow.seq))).all():
            found[row.contact_id].append((int(row.seq or 0), Event(
                id=row.id, type=row.type, contact_id=row.contact_id, occurred_at=as_utc(row.occurred_at),
                source=row.source, data=json.loads(row.data))))
    return found


# -- send_email outbox rows --------------------------------------------------------------------------

@dataclass
class MailboxLoad:
    """Send-email rows per mailbox for the current UTC day: the daily cap's count and the spacing's last send.

    Built once per run from the outbox, then kept current in memory as the run intends (or reserves
    spacing slots for) more sends."""

    day: datetime
    counts: dict[str, int] = field(default_factory=dict)
    last: dict[str, datetime] = field(default_factory=dict)

    def note(self, mailbox: str, at: datetime) -> None:
        self.counts[mailbox] = self.counts.get(mailbox, 0) + 1
        self.last[mailbox] = max(at, self.last.get(mailbox, at))


def mailbox_load(session: Session, now: datetime) -> MailboxLoad:
    """Send-email rows (not cancelled) intended in ``now``'s UTC day, per mailbox."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    load = MailboxLoad(day)
    rows = session.exec(select(OutboxRow.payload, OutboxRow.created_at).where(
        OutboxRow.kind == SEND_EMAIL, OutboxRow.status != "cancelled", col(OutboxRow.created_at) >= day,
        col(OutboxRow.created_at) < day + timedelta(days=1))).all()
    for payload, created in rows:
        mailbox = json.loads(payload).get("mailbox")
        if mailbox:
            load.note(str(mailbox), as_utc(created))
    return load


def outbox_rows(session: Session, keys: Sequence[str]) -> dict[str, OutboxRow]:
    """Outbox rows by key (any kind, any status)."""
    found: dict[str, OutboxRow] = {}
    for chunk in chunks(keys):
        for row in session.exec(select(OutboxRow).where(col(OutboxRow.key).in_(chunk))).all():
            found[row.key] = row
    return found


def revive(row: OutboxRow, payload: dict[str, Any], at: datetime) -> None:
    """A cancelled send goes back to pending with a freshly rendered payload (the enrollment was resumed)."""
    row.payload = json.dumps(payload, default=str, sort_keys=True)
    row.status, row.last_error = "pending", None
    row.lease_owner = row.lease_until = None
    row.created_at = at
    row.next_attempt_at = row.updated_at = utcnow()
