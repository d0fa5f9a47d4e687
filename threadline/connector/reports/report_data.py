"""What `threadline report` reads from the store: enrollments, the steps that went out, and outcome events.

A step counts as sent when its outbox row is done: a ``send_email`` row (sequence, step index and A/B variant
from its payload, the time from ``payload.sent.at``) or a ``create_task`` row whose key is a step key of a known
enrollment. The score history for MQL conversion is the scoring's own writes (audit rows) plus the CRM's
``contact.updated`` echo of the total field. Only reads; never writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from threadline.rules.conditions import as_number
from threadline.rules.sequences.branching import BRANCHED
from threadline.rules.sequences.enrollment import Enrollment
from threadline.rules.sequences.reporting.outcomes import ScorePoint, score_points
from threadline.rules.sequences.reporting.stats import OUTCOMES, SendRecord
from threadline.rules.sequences.steps import step_key
from threadline.rules.sequences.store import chunks, events_with_seq, to_enrollment
from threadline.sync.events.records import Event
from threadline.sync.store.by_contact import not_by_index
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, EnrollmentRow, OutboxRow, as_utc

#: Event types the report counts (replies, bounces and unsubscribes per step; meetings per sequence; field changes
#: for stage progression and the score's CRM echo; branch decisions).
REPORT_EVENT_TYPES = (*OUTCOMES, "meeting.booked", "contact.updated", BRANCHED)


@dataclass
class ReportInput:
    """Everything sequence_stats / replies_per_day need, read from one store."""

    enrollments: list[Enrollment] = field(default_factory=list)
    sends: list[SendRecord] = field(default_factory=list)
    events: dict[str, list[Event]] = field(default_factory=dict)
    scores: dict[str, list[ScorePoint]] = field(default_factory=dict)


#: Enrolled contacts the report reads at a time: it adds up per batch, so memory does not grow with the mirror.
REPORT_BATCH = 2000


def enrolled_contact_batches(store: Store, *, sequence: str | None = None, since: datetime | None = None,
                             size: int = REPORT_BATCH) -> Iterator[list[str]]:
    """Ids of enrolled contacts (as `load_report_input` filters them), in keyset pages of `size`."""
    after = ""
    while True:
        with store.session() as session:
            query = _filtered(select(EnrollmentRow.contact_id), sequence, since).where(
                col(EnrollmentRow.contact_id) > after)
            batch = list(session.exec(query.distinct().order_by(col(EnrollmentRow.contact_id)).limit(size)).all())
        if not batch:
            return
        yield batch
        after = batch[-1]


def load_report_input(store: Store, *, sequence: str | None = None, since: datetime | None = None,
                      step_counts: Mapping[str, int] | None = None,
                      contact_ids: Sequence[str] | None = None, score_field: str | None = None) -> ReportInput:
    """Enrollments (of ``sequence`` if given, enrolled on or after ``since`` if given, of ``contact_ids`` if
    given), their done steps and their contacts' outcome events. ``step_counts`` (configured steps per
    sequence) widens the task-key lookup to steps an enrollment has not reached in the store (a task created
    just before a crash). ``score_field``: the scoring's total field, whose history is read (None: none)."""
    with store.session() as session:
        enrollments = _enrollments(session, sequence, since, contact_ids)
        contact_ids = sorted({e.contact_id for e in enrollments})
        sends = _email_sends(session, contact_ids, {e.sequence for e in enrollments})
        sends += _task_sends(session, _step_keys(enrollments, step_counts or {}))
        events = _events(session, contact_ids)
        writes = _score_writes(session, contact_ids, score_field) if score_field else {}
    scores = {contact: score_points(writes.get(contact, ()), events.get(contact, ()), score_field)
              for contact in contact_ids} if score_field else {}
    return ReportInput(enrollments, sends, events, scores)


def _filtered(query: Any, sequence: str | None, since: datetime | None) -> Any:
    if sequence is not None:
        query = query.where(EnrollmentRow.sequence == sequence)
    if since is not None:
        query = query.where(col(EnrollmentRow.enrolled_at) >= since)
    return query


def _enrollments(session: Session, sequence: str | None, since: datetime | None,
                 contact_ids: Sequence[str] | None) -> list[Enrollment]:
    # A fixed order: reply times are gathered in it, and a report must not depend on how the store returns rows.
    query = _filtered(select(EnrollmentRow), sequence, since).order_by(
        col(EnrollmentRow.contact_id), col(EnrollmentRow.sequence), col(EnrollmentRow.generation))
    if contact_ids is None:
        return [to_enrollment(row) for row in session.exec(query).all()]
    return [to_enrollment(row) for chunk in chunks(contact_ids)
            for row in session.exec(query.where(col(EnrollmentRow.contact_id).in_(chunk))).all()]


def _email_sends(session: Session, contact_ids: Sequence[str], sequences: set[str]) -> list[SendRecord]:
    sends = []
    for chunk in chunks(contact_ids):
        rows = session.exec(select(OutboxRow.contact_id, OutboxRow.payload, OutboxRow.updated_at).where(
            not_by_index(OutboxRow.kind) == "send_email", not_by_index(OutboxRow.status) == "done",
            col(OutboxRow.contact_id).in_(chunk))).all()
        for contact_id, payload, updated_at in rows:
            data: dict[str, Any] = json.loads(payload)
            if data.get("sequence") in sequences:
                at = (data.get("sent") or {}).get("at")
                sends.append(SendRecord(data["sequence"], contact_id, int(data["step_index"]),
                                        _utc(datetime.fromisoformat(at)) if at else _utc(updated_at),
                                        data.get("variant") or None))
    return sends


def _step_keys(enrollments: Iterable[Enrollment], step_counts: Mapping[str, int]) -> dict[str, tuple[str, str, int]]:
    """step key -> (sequence, contact, step index) for every step an enrollment may have done."""
    keys = {}
    for e in enrollments:
        for index in range(max(e.step, step_counts.get(e.sequence, 0))):
            keys[step_key(e.sequence, e.contact_id, e.generation, index)] = (e.sequence, e.contact_id, index)
    return keys


def _task_sends(session: Session, keys: Mapping[str, tuple[str, str, int]]) -> list[SendRecord]:
    sends = []
    for chunk in chunks(sorted(keys)):
        rows = session.exec(select(OutboxRow.key, OutboxRow.updated_at).where(
            not_by_index(OutboxRow.kind) == "create_task", not_by_index(OutboxRow.status) == "done",
            col(OutboxRow.key).in_(chunk))).all()
        sends += [SendRecord(*keys[key], _utc(updated_at)) for key, updated_at in rows]
    return sends


def _events(session: Session, contact_ids: Sequence[str]) -> dict[str, list[Event]]:
    found = events_with_seq(session, contact_ids, REPORT_EVENT_TYPES)
    return {contact_id: [event for _, event in items] for contact_id, items in found.items()}


def scoring_writes_of(contact_ids: Sequence[str]) -> tuple[Any, ...]:
    """The WHERE of the scoring's ``set_fields`` audit rows of these contacts (one chunk of them): the report
    reads three columns of them, the hand-off report whole rows."""
    return (not_by_index(AuditRow.rule) == "scoring", AuditRow.kind == "set_fields",
            col(AuditRow.contact_id).in_(contact_ids))


def _score_writes(session: Session, contact_ids: Sequence[str], total_field: str) -> dict[str, list[ScorePoint]]:
    """The scoring's writes of the total field per contact (audit rows: the time the rules decided it)."""
    found: dict[str, list[ScorePoint]] = {}
    for chunk in chunks(contact_ids):
        rows = session.exec(select(AuditRow.contact_id, AuditRow.at, AuditRow.detail).where(
            *scoring_writes_of(chunk))).all()
        for contact_id, at, detail in rows:
            value = as_number((json.loads(detail).get("fields") or {}).get(total_field))
            if value is not None:
                found.setdefault(contact_id, []).append(ScorePoint(_utc(at), value))
    return found


def _utc(at: datetime) -> datetime:
    return as_utc(at)
