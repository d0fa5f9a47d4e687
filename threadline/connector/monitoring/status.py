"""What `threadline status` reports: cursors and lag per source, outbox depth, holds, recent errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from threadline.sync.outbox import rows as outbox
from threadline.sync.store.tables import (
    CreatedContactRow,
    CursorRow,
    EnrollmentRow,
    MessageRow,
    OutboxRow,
    SyncErrorRow,
    WorkLeaseRow,
)
from threadline.sync.work.cursors import BudgetState, read_budget
from threadline.sync.work.holds import active_holds


@dataclass(frozen=True)
class SourceStatus:
    source: str
    last_success_at: datetime | None
    lag_seconds: float | None
    resyncs: int
    last_resync_reason: str | None
    has_cursor: bool
    budget: str | None = None                 # the daily API budget in words (with the reserve and any pause)
    daily_budget: BudgetState | None = None   # the same as figures (`status --json`)


@dataclass(frozen=True)
class WorkHolder:
    """Who holds a unit of shared work (a CRM pull, a mailbox, rules, sequences) and until when."""
    unit: str
    holder: str | None             # the replica id; None when the unit is free
    lease_until: datetime | None
    next_due_at: datetime | None
    expired: bool                  # held, but the lease ran out: the holder is gone or stuck; another takes it


@dataclass(frozen=True)
class SourceHold:
    """A source whose writes wait for a long throttle to end (HubSpot DAILY, a long Retry-After)."""
    source: str
    until: datetime
    reason: str
    set_by: str


@dataclass(frozen=True)
class StatusReport:
    sources: list[SourceStatus]
    outbox: dict[str, int]
    oldest_unfinished: datetime | None
    decisions: dict[str, int]
    recent_errors: list[SyncErrorRow]
    enrollments: dict[str, int] = field(default_factory=dict)    # status -> count
    sends: dict[str, int] = field(default_factory=dict)          # send_email rows: status -> count
    unconfirmed_sends: int = 0     # submitted, outcome never learned, never resent (see README: SMTP)
    work: list[WorkHolder] = field(default_factory=list)
    holds: list[SourceHold] = field(default_factory=list)
    # sync.create_contacts: {"created": n, "found": m} (found: the CRM had the address when Threadline looked)
    contacts_created: dict[str, int] = field(default_factory=dict)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


def build_status(session: Session, error_limit: int = 10) -> StatusReport:
    now = datetime.now(UTC)
    sources = []
    for row in session.exec(select(CursorRow).order_by(col(CursorRow.source))).all():
        success = _aware(row.last_success_at)
        daily = read_budget(row.budget)
        sources.append(SourceStatus(row.source, success, (now - success).total_seconds() if success else None,
                                    row.resyncs, row.last_resync_reason, row.data is not None,
                                    daily.describe() if daily else row.budget, daily))
    decisions = {d: int(n) for d, n in session.exec(select(MessageRow.decision, func.count())
                                                    .group_by(MessageRow.decision)).all()}
    errors = list(session.exec(select(SyncErrorRow).order_by(col(SyncErrorRow.id).desc()).limit(error_limit)).all())
    holds = [SourceHold(h.source, _aware(h.held_until) or now, h.reason, h.set_by) for h in active_holds(session, now)]
    return StatusReport(sources, outbox.counts_by_status(session), _aware(outbox.oldest_pending(session)),
                        decisions, errors, *_sequence_counts(session), work=work_holders(session, now), holds=holds,
                        contacts_created=created_contacts(session))


def created_contacts(session: Session) -> dict[str, int]:
    """How many people sync.create_contacts created in the CRM, and how many it found there already."""
    rows = session.exec(select(CreatedContactRow.created, func.count()).group_by(col(CreatedContactRow.created))).all()
    return {("created" if created else "found"): int(n) for created, n in rows}


def work_holders(session: Session, now: datetime) -> list[WorkHolder]:
    """Every unit replicas share, with its holder; empty before the first `run` or `sync`."""
    holders = []
    for row in session.exec(select(WorkLeaseRow).order_by(col(WorkLeaseRow.unit))).all():
        until = _aware(row.lease_until) if row.owner else None
        holders.append(WorkHolder(row.unit, row.owner, until, _aware(row.next_due_at),
                                  expired=until is not None and until <= now))
    return holders


def _sequence_counts(session: Session) -> tuple[dict[str, int], dict[str, int], int]:
    """Enrollments by status, send_email rows by status, and sends whose outcome was never learned."""
    enrollments = dict(session.exec(select(EnrollmentRow.status, func.count()).group_by(EnrollmentRow.status)).all())
    sends = dict(session.exec(select(OutboxRow.status, func.count()).where(OutboxRow.kind == "send_email")
                              .group_by(OutboxRow.status)).all())
    unconfirmed = session.exec(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.kind == "send_email", OutboxRow.status == "done",
        col(OutboxRow.payload).contains('"confirmed": false'))).one()
    return enrollments, sends, int(unconfirmed)


def status_json(report: StatusReport, reauthorize: dict[str, str] | None = None) -> dict[str, Any]:
    """The status report as JSON-ready data (`threadline status --json`): times in ISO 8601 UTC."""
    data = asdict(replace(report, recent_errors=[]))
    data["recent_errors"] = [{"at": _aware(e.at), "source": e.source, "kind": e.kind, "message": e.message}
                             for e in report.recent_errors]
    data["reauthorize"] = dict(reauthorize or {})
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return (_aware(value) or value).isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
