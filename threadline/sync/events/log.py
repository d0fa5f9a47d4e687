"""The event log: rule-layer input, stored once per event id, read per contact."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from threadline.sync.events.records import Event
from threadline.sync.store.tables import EventRow
from threadline.sync.store.upsert import insert_ignore


def record_events(session: Session, events: Sequence[Event]) -> int:
    """Store events; ones already stored (same id) are ignored. Returns how many were new."""
    rows = [{"id": e.id, "type": e.type, "contact_id": e.contact_id, "occurred_at": e.occurred_at,
             "source": e.source, "data": json.dumps(dict(e.data), default=str, sort_keys=True)}
            for e in {e.id: e for e in events}.values()]
    return insert_ignore(session, EventRow, rows, ["id"])


def _event(row: EventRow) -> Event:
    return Event(id=row.id, type=row.type, contact_id=row.contact_id, occurred_at=row.occurred_at,
                 source=row.source, data=json.loads(row.data))


def events_for(session: Session, contact_ids: Iterable[str]) -> dict[str, list[Event]]:
    """Every stored event of these contacts, oldest first."""
    ids = list(contact_ids)
    found: dict[str, list[Event]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        rows = session.exec(select(EventRow).where(col(EventRow.contact_id).in_(ids[start:start + 500]))
                            .order_by(col(EventRow.occurred_at), col(EventRow.seq))).all()
        for row in rows:
            found[row.contact_id].append(_event(row))
    return found


def contacts_with_events_after(session: Session, seq: int) -> tuple[set[str], int]:
    """Contacts that have events newer than `seq` (arrival order), and the newest seq."""
    newest = session.exec(select(func.max(EventRow.seq))).one() or 0
    if newest <= seq:
        return set(), seq
    contacts = session.exec(select(EventRow.contact_id).where(col(EventRow.seq) > seq, col(EventRow.seq) <= newest)
                            .distinct()).all()
    return set(contacts), int(newest)


EventTuple = tuple[str, str, datetime, str, dict[str, Any]]


def event_rows_for(session: Session, contact_ids: Iterable[str]) -> dict[str, list[EventTuple]]:
    """Like `events_for`, as plain (id, type, occurred_at, source, data) tuples: the bulk path (plan, replay)."""
    ids = list(contact_ids)
    found: dict[str, list[EventTuple]] = defaultdict(list)
    columns = (col(EventRow.contact_id), col(EventRow.id), col(EventRow.type), col(EventRow.occurred_at),
               col(EventRow.source), col(EventRow.data))
    for start in range(0, len(ids), 2000):
        # SQLAlchemy's select: sqlmodel's is typed for at most four columns.
        rows = session.execute(sa_select(*columns).where(col(EventRow.contact_id).in_(ids[start:start + 2000]))
                            .order_by(col(EventRow.occurred_at), col(EventRow.seq))).all()
        for contact_id, event_id, type_, at, source, data in rows:
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            found[contact_id].append((event_id, type_, at, source, json.loads(data)))
    return found
