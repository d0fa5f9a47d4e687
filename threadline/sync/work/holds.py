"""Source holds: a long throttle (HubSpot's DAILY 429, a Retry-After longer than a lease) parks a source's
writes until the stated time, for every replica, through the store. Performers skip a held source's rows
instead of holding a thread and a lease for an hour; `threadline status` shows each hold and why."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from threadline.sync.store.tables import SourceHoldRow, as_utc, utcnow
from threadline.sync.store.upsert import upsert


def hold_source(session: Session, source: str, until: datetime, reason: str, by: str) -> datetime:
    """Park `source`'s writes until `until` (a later hold already in place wins). Returns the hold's end."""
    current = held_until(session, source)
    if current is not None and current >= until:
        return current
    upsert(session, SourceHoldRow, [{"source": source, "held_until": until, "reason": reason[:1000],
                                     "set_by": by[:200], "set_at": utcnow()}], ["source"])
    return until


def held_until(session: Session, source: str, now: datetime | None = None) -> datetime | None:
    """When `source`'s hold ends, or None when it is not held (any more)."""
    row = session.get(SourceHoldRow, source)
    if row is None:
        return None
    until = as_utc(row.held_until)
    return until if until > (now or utcnow()) else None


def active_holds(session: Session, now: datetime | None = None) -> list[SourceHoldRow]:
    """Every hold not yet over, soonest end first (for status)."""
    rows = session.exec(select(SourceHoldRow).where(col(SourceHoldRow.held_until) > (now or utcnow()))
                        .order_by(col(SourceHoldRow.held_until))).all()
    return list(rows)
