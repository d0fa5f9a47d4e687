"""What the report's Handoff section reads from the store: the rule layer's assignment writes and the scoring
writes of the same contacts (audit rows, in recording order), and those contacts' email.sent and task.completed
events. Only reads; never writes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from threadline.rules.assignment.handoff import TOUCH_EVENTS, RuleWrite
from threadline.sync.events.records import Event
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, EventRow, as_utc

_CHUNK = 500


def load_handoff_input(store: Store) -> tuple[list[RuleWrite], list[Event]]:
    """The writes (assignment and scoring, oldest first) and touch events of every contact an assignment wrote."""
    with store.session() as session:
        assignment = list(session.exec(select(AuditRow).where(col(AuditRow.rule).startswith("assignment:"))).all())
        contacts = sorted({row.contact_id for row in assignment})
        scoring = [row for chunk in _chunks(contacts) for row in session.exec(select(AuditRow).where(
            AuditRow.rule == "scoring", col(AuditRow.contact_id).in_(chunk))).all()]
        events = _touch_events(session, contacts)
    rows = sorted(assignment + scoring, key=lambda row: row.id or 0)
    return [RuleWrite(as_utc(row.at), row.rule, row.contact_id, row.kind, row.effect_key, json.loads(row.detail))
            for row in rows], events


def _touch_events(session: Session, contacts: Sequence[str]) -> list[Event]:
    events = []
    for chunk in _chunks(contacts):
        for row in session.exec(select(EventRow).where(col(EventRow.type).in_(TOUCH_EVENTS),
                                                       col(EventRow.contact_id).in_(chunk))).all():
            events.append(Event(id=row.id, type=row.type, contact_id=row.contact_id,
                                occurred_at=as_utc(row.occurred_at), source=row.source, data=json.loads(row.data)))
    return events


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start:start + _CHUNK])
