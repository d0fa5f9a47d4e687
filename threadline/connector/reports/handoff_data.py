"""What the report's Handoff section reads from the store: the rule layer's assignment writes and the scoring
writes of the same contacts (audit rows, in recording order), and those contacts' email.sent and task.completed
events. Only reads; never writes."""

from __future__ import annotations

import json

from sqlmodel import col, select

from threadline.connector.reports.report_data import scoring_writes_of
from threadline.rules.assignment.handoff import TOUCH_EVENTS, RuleWrite
from threadline.rules.sequences.store import chunks, events_with_seq
from threadline.sync.events.records import Event
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, as_utc


def load_handoff_input(store: Store) -> tuple[list[RuleWrite], list[Event]]:
    """The writes (assignment and scoring, oldest first) and touch events of every contact an assignment wrote."""
    with store.session() as session:
        assignment = list(session.exec(select(AuditRow).where(col(AuditRow.rule).startswith("assignment:"))).all())
        contacts = sorted({row.contact_id for row in assignment})
        scoring = [row for chunk in chunks(contacts)
                   for row in session.exec(select(AuditRow).where(*scoring_writes_of(chunk))).all()]
        events = [event for found in events_with_seq(session, contacts, TOUCH_EVENTS).values() for _, event in found]
    rows = sorted(assignment + scoring, key=lambda row: row.id or 0)
    return [RuleWrite(as_utc(row.at), row.rule, row.contact_id, row.kind, row.effect_key, json.loads(row.detail))
            for row in rows], events
