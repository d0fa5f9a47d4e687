"""The outbox: intended external effects, recorded before they are performed.

Rows are written in the same transaction as the ingest that caused them, with
a deterministic key, so a re-run intends nothing twice. The executor claims due
rows with a lease, performs them, and records the remote id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from threadline.sync.store.tables import OutboxRow, utcnow
from threadline.sync.store.upsert import insert_ignore


@dataclass(frozen=True)
class Intent:
    """An effect to perform later: e.g. log_email (payload: EmailActivity fields)."""

    key: str
    kind: str
    contact_id: str
    payload: dict[str, Any]


def intend(session: Session, intents: Sequence[Intent], *, at: datetime | None = None) -> int:
    """Record intents; keys already present are ignored. Returns how many were new.

    ``at`` is the decision time recorded as ``created_at`` (the sequence runner counts a mailbox's sends per
    day by it); the rows are due at once either way."""
    now = utcnow()
    rows = [{"key": i.key, "kind": i.kind, "contact_id": i.contact_id,
             "payload": json.dumps(i.payload, default=str, sort_keys=True), "status": "pending",
             "attempts": 0, "created_at": at or now, "updated_at": now, "next_attempt_at": now} for i in intents]
    return insert_ignore(session, OutboxRow, rows, ["key"])


def claim_due(session: Session, kind: str, owner: str, lease: timedelta, limit: int) -> list[OutboxRow]:
    """Lease up to `limit` due pending rows of one kind; two claimers never get the same row.

    PostgreSQL: SKIP LOCKED passes over rows another claimer is taking. SQLite has no row
    locks (FOR UPDATE is a no-op), so the UPDATE's own `status = 'pending'` guard decides:
    a row another thread claimed since the SELECT is no longer pending and is left out."""
    now = utcnow()
    ids = list(session.exec(
        select(OutboxRow.id).where(OutboxRow.kind == kind, OutboxRow.status == "pending",
                                   col(OutboxRow.next_attempt_at) <= now)
        .order_by(col(OutboxRow.id)).limit(limit).with_for_update(skip_locked=True)
    ).all())
    if not ids:
        return []
    claimed = session.execute(
        update(OutboxRow).where(col(OutboxRow.id).in_(ids), col(OutboxRow.status) == "pending")
        .values(status="in_flight", lease_owner=owner, lease_until=now + lease, attempts=OutboxRow.attempts + 1,
                updated_at=now)
        .returning(col(OutboxRow.id)).execution_options(synchronize_session=False)).scalars().all()
    if not claimed:
        return []
    return list(session.exec(select(OutboxRow).where(col(OutboxRow.id).in_(list(claimed)))
                             .order_by(col(OutboxRow.id)).execution_options(populate_existing=True)).all())


def renew(session: Session, row_ids: Sequence[int], owner: str, lease: timedelta) -> set[int]:
    """Extend the lease of claimed rows `owner` still holds, and return their ids.

    A row missing from the answer was taken over (its lease ran out while this replica
    stalled): performing it now could do it twice, so the caller skips it."""
    if not row_ids:
        return set()
    now = utcnow()
    held = session.execute(
        update(OutboxRow).where(col(OutboxRow.id).in_(list(row_ids)), col(OutboxRow.lease_owner) == owner,
                                col(OutboxRow.status) == "in_flight")
        .values(lease_until=now + lease).returning(col(OutboxRow.id))).scalars().all()
    return set(held)


def holds(row: OutboxRow, owner: str) -> bool:
    """Whether this (freshly read) row is still in flight under `owner`'s lease."""
    return row.status == "in_flight" and row.lease_owner == owner


def unclaim(session: Session, row_ids: Sequence[int], owner: str) -> int:
    """Claimed rows that were never started go back to pending, due now; the claim's attempt is not counted."""
    if not row_ids:
        return 0
    now = utcnow()
    released = session.execute(
        update(OutboxRow).where(col(OutboxRow.id).in_(list(row_ids)), col(OutboxRow.lease_owner) == owner,
                                col(OutboxRow.status) == "in_flight")
        .values(status="pending", lease_owner=None, lease_until=None, attempts=OutboxRow.attempts - 1,
                next_attempt_at=now, updated_at=now).returning(col(OutboxRow.id))).scalars().all()
    return len(released)


def expire_leases(session: Session, owner: str) -> int:
    """End `owner`'s leases on rows still in flight (shutdown cut a performer short): they become orphans
    at once, which every executor reconciles remotely before performing them again."""
    ended = session.execute(
        update(OutboxRow).where(col(OutboxRow.lease_owner) == owner, col(OutboxRow.status) == "in_flight")
        .values(lease_until=utcnow()).returning(col(OutboxRow.id))).scalars().all()
    return len(ended)


def orphaned_in_flight(session: Session, kind: str, *, respect_leases: bool, limit: int = 500,
                       own: str | None = None) -> list[OutboxRow]:
    """In-flight rows whose performer died: their effect may or may not exist remotely (reconcile first).

    `own`: this process's performer id. Its own in-flight rows at the start of a run were left by an earlier run
    that failed midway (e.g. its database connection was killed): waiting out their lease would only delay them.
    """
    query = select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.status == "in_flight")
    if respect_leases:
        expired = or_(col(OutboxRow.lease_until).is_(None), col(OutboxRow.lease_until) < utcnow())
        query = query.where(or_(expired, col(OutboxRow.lease_owner) == own) if own else expired)
    return list(session.exec(query.order_by(col(OutboxRow.id)).limit(limit).with_for_update(skip_locked=True)).all())


def mark_done(row: OutboxRow, remote_id: str | None) -> None:
    row.status, row.remote_id, row.last_error = "done", remote_id, None
    row.lease_owner = row.lease_until = None
    row.updated_at = utcnow()


def mark_retry(row: OutboxRow, error: str, delay: timedelta) -> None:
    row.status, row.last_error = "pending", error[:1000]
    row.lease_owner = row.lease_until = None
    row.next_attempt_at = utcnow() + delay
    row.updated_at = utcnow()


def give_back(row: OutboxRow, error: str, delay: timedelta) -> None:
    """A claimed row goes back to pending without counting the claim as an attempt: no provider call was
    made for it (it waits for another row, its source is parked, or its lease moved mid-batch)."""
    mark_retry(row, error, delay)
    row.attempts = max(0, row.attempts - 1)


def mark_failed(row: OutboxRow, error: str) -> None:
    row.status, row.last_error = "failed", error[:1000]
    row.lease_owner = row.lease_until = None
    row.updated_at = utcnow()


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
    return {status: int(n) for status, n in rows}


def oldest_pending(session: Session) -> datetime | None:
    return session.exec(select(func.min(OutboxRow.created_at)).where(OutboxRow.status != "done")).one()


def next_due(session: Session, kinds: Sequence[str] | None = None) -> datetime | None:
    """When the earliest pending row (of `kinds`, default all) falls due (None when nothing is pending)."""
    query = select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == "pending")
    if kinds is not None:
        query = query.where(col(OutboxRow.kind).in_(list(kinds)))
    due = session.exec(query).one()
    return due.replace(tzinfo=UTC) if due is not None and due.tzinfo is None else due
