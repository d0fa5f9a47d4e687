"""Per-source cursors and health (the rows `threadline status` reads)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from threadline.adapters.errors import ProviderError
from threadline.sync.store.tables import CursorRow, SyncErrorRow, utcnow

MAX_ERRORS_KEPT_PER_SOURCE = 50


def load_cursor(session: Session, source: str) -> dict[str, Any] | None:
    row = session.get(CursorRow, source)
    return json.loads(row.data) if row and row.data else None


def save_cursor(session: Session, source: str, cursor: dict[str, Any], *, resync_reason: str | None = None) -> None:
    """Store the cursor in the caller's transaction (so it commits together with the page's effects)."""
    row = session.get(CursorRow, source) or CursorRow(source=source)
    row.data = json.dumps(cursor, sort_keys=True, default=str)
    row.updated_at = utcnow()
    if resync_reason:
        row.resyncs += 1
        row.last_resync_reason = resync_reason[:400]
    session.add(row)


def mark_success(session: Session, source: str) -> None:
    row = session.get(CursorRow, source) or CursorRow(source=source)
    row.last_success_at = utcnow()
    session.add(row)


def record_error(session: Session, source: str, kind: str, message: str) -> None:
    """Remember an error for status (bounded per source)."""
    session.add(SyncErrorRow(source=source, kind=kind[:64], message=message[:1000]))
    row = session.get(CursorRow, source) or CursorRow(source=source)
    row.last_error_at = utcnow()
    session.add(row)
    old = session.exec(select(SyncErrorRow.id).where(SyncErrorRow.source == source)
                       .order_by(col(SyncErrorRow.id).desc()).offset(MAX_ERRORS_KEPT_PER_SOURCE)).all()
    for error_id in old:
        stale = session.get(SyncErrorRow, error_id)
        if stale:
            session.delete(stale)


def record_provider_error(session: Session, source: str, error: ProviderError) -> None:
    record_error(session, source, f"{error.provider}.{error.kind}", str(error))


def record_budget(session: Session, source: str, used: int, limit: int) -> None:
    """Remember the provider's daily API allocation as last reported (shown by `threadline status`)."""
    row = session.get(CursorRow, source) or CursorRow(source=source)
    row.budget = f"{used}/{limit} API requests used today ({max(0, limit - used)} left)"
    session.add(row)
