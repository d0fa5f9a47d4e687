"""Per-source cursors and health (the rows `threadline status` reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from sqlmodel import Session, col, select

from threadline.adapters.daily_budget import DailyBudget
from threadline.adapters.errors import ProviderError
from threadline.sync.store.tables import CursorRow, SyncErrorRow, utcnow
from threadline.sync.store.upsert import insert_ignore

MAX_ERRORS_KEPT_PER_SOURCE = 50


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP        # record_budget: leave a recorded pause as it is


def cursor_row(session: Session, source: str) -> CursorRow:
    """The source's row, made if missing. Several replicas may make it at once (each records the CRM's budget and
    its own health): insert-or-nothing, then read, so the second is not refused by the primary key."""
    row = session.get(CursorRow, source)
    if row is None:
        insert_ignore(session, CursorRow, [{"source": source, "updated_at": utcnow(), "resyncs": 0}], ["source"])
        row = session.get(CursorRow, source)
        assert row is not None
    return row


def load_cursor(session: Session, source: str) -> dict[str, Any] | None:
    row = session.get(CursorRow, source)
    return json.loads(row.data) if row and row.data else None


def save_cursor(session: Session, source: str, cursor: dict[str, Any], *, resync_reason: str | None = None) -> None:
    """Store the cursor in the caller's transaction (so it commits together with the page's effects)."""
    row = cursor_row(session, source)
    row.data = json.dumps(cursor, sort_keys=True, default=str)
    row.updated_at = utcnow()
    if resync_reason:
        row.resyncs += 1
        row.last_resync_reason = resync_reason[:400]
    session.add(row)


def mark_success(session: Session, source: str) -> None:
    row = cursor_row(session, source)
    row.last_success_at = utcnow()
    session.add(row)


def record_error(session: Session, source: str, kind: str, message: str) -> None:
    """Remember an error for status (bounded per source)."""
    session.add(SyncErrorRow(source=source, kind=kind[:64], message=message[:1000]))
    row = cursor_row(session, source)
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


@dataclass(frozen=True)
class BudgetState:
    """A CRM account's daily API budget as last recorded, and whether the contact pull is paused at its reserve."""

    limit: int
    remaining: int
    reserve: int
    seen_at: datetime | None = None
    resets_at: datetime | None = None        # None: a rolling window (Salesforce)
    paused_until: datetime | None = None     # the contact pull takes no page before this

    @property
    def used(self) -> int:
        return max(0, self.limit - self.remaining)

    def describe(self) -> str:
        """One line for `threadline status` and the status page."""
        text = f"{self.used}/{self.limit} API requests used today ({self.remaining} left, reserve {self.reserve})"
        if self.resets_at is not None:
            text += f", resets {self.resets_at:%Y-%m-%d %H:%M} UTC"
        if self.paused_until is not None:
            text += f"; contact pull paused at the daily reserve until {self.paused_until:%Y-%m-%d %H:%M} UTC"
        return text


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def read_budget(stored: str | None) -> BudgetState | None:
    """The budget a cursor row holds (None if none, or only an older release's free text)."""
    try:
        data = json.loads(stored or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("limit"), int):
        return None
    return BudgetState(data["limit"], int(data.get("remaining", 0)), int(data.get("reserve", 0)),
                       _time(data.get("seen_at")), _time(data.get("resets_at")), _time(data.get("paused_until")))


def _write_budget(session: Session, source: str, state: BudgetState) -> None:
    row = cursor_row(session, source)
    # Compact JSON: the column holds 200 characters, and this takes about 170 at most.
    row.budget = json.dumps({"limit": state.limit, "remaining": state.remaining, "reserve": state.reserve,
                             "seen_at": _stamp(state.seen_at), "resets_at": _stamp(state.resets_at),
                             "paused_until": _stamp(state.paused_until)}, separators=(",", ":"))
    session.add(row)


def load_budget(session: Session, source: str) -> BudgetState | None:
    """The source's recorded budget (see read_budget)."""
    row = session.get(CursorRow, source)
    return read_budget(row.budget) if row else None


def record_budget(session: Session, source: str, budget: DailyBudget, reserve: int, *,
                  paused_until: datetime | None | _Keep = KEEP) -> None:
    """Remember the provider's daily API budget as last stated (shown by `threadline status` and /metrics).

    `paused_until` sets or (None) clears the contact pull's pause; by default a recorded pause is kept."""
    if isinstance(paused_until, _Keep):
        old = load_budget(session, source)
        paused_until = old.paused_until if old else None
    _write_budget(session, source, BudgetState(budget.limit, budget.remaining, reserve, budget.seen_at,
                                               budget.resets_at, paused_until))


def clear_pause(session: Session, source: str) -> None:
    """Forget a recorded pause of the contact pull (the budget figures stay)."""
    old = load_budget(session, source)
    if old is not None and old.paused_until is not None:
        _write_budget(session, source, BudgetState(old.limit, old.remaining, old.reserve, old.seen_at,
                                                   old.resets_at, None))


def mirror_behind(session: Session, crm_source: str) -> bool:
    """Whether the last contact pull of `crm_source` stopped before the end (a backfill paused part way)."""
    row = session.get(CursorRow, crm_source)
    return row is not None and row.caught_up is False


def set_caught_up(session: Session, crm_source: str, caught_up: bool) -> None:
    """Record whether the contact pull read to the end (True) or stopped part way (False)."""
    row = cursor_row(session, crm_source)
    row.caught_up = caught_up
    session.add(row)
