"""What the CRM tells us besides contacts: meetings booked, and Threadline's follow-up tasks completed.

Both become events (meeting.booked, task.completed) for the rule layer; meetings are read
incrementally with their own cursor, task states by looking up our own open tasks by key.
"""

from __future__ import annotations

import json
from datetime import datetime

import structlog
from sqlmodel import select

from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import CrmAdapter
from threadline.sync.events.log import record_events
from threadline.sync.events.meetings import without_known_meetings
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EventRow, OutboxRow
from threadline.sync.work.cursors import load_cursor, record_provider_error, save_cursor

log = structlog.get_logger("threadline.crm")


def observe_meetings(store: Store, crm: CrmAdapter) -> int:
    """Pull new meetings; one meeting.booked event per (meeting, contact). Returns new events."""
    source = f"crm:{crm.name}:meetings"
    with store.session() as session:
        cursor = load_cursor(session, source)
    new = 0
    try:
        for meetings, page_cursor in crm.pull_meetings(cursor):
            events = [Event(id=event_id("meeting.booked", m.id, contact), type="meeting.booked", contact_id=contact,
                            occurred_at=m.created_at, source="crm",
                            data={"meeting_id": m.id, "starts_at": m.starts_at.isoformat() if m.starts_at else None})
                      for m in meetings for contact in m.contact_ids]
            with store.session() as session:
                # A meeting already recorded from the prospect's "Accepted: ..." mail is not booked twice.
                new += record_events(session, without_known_meetings(session, events))
                save_cursor(session, source, page_cursor)
    except ProviderError as exc:
        with store.session() as session:
            record_provider_error(session, source, exc)
    return new


def observe_tasks(store: Store, crm: CrmAdapter, now: datetime) -> int:
    """Look up Threadline's follow-up tasks not yet seen completed; record task.completed for closed ones."""
    with store.session() as session:
        done = {json.loads(d).get("key") for d in session.exec(
            select(EventRow.data).where(EventRow.type == "task.completed")).all()}
        rows = [r for r in session.exec(select(OutboxRow).where(OutboxRow.kind == "create_task",
                                                               OutboxRow.status == "done")).all()
                if r.key not in done]
    if not rows:
        return 0
    try:
        states = crm.find_tasks([r.key for r in rows])
    except ProviderError as exc:
        with store.session() as session:
            record_provider_error(session, f"crm:{crm.name}", exc)
        return 0
    by_key = {r.key: r for r in rows}
    events = [Event(id=event_id("task.completed", key), type="task.completed", contact_id=by_key[key].contact_id,
                    occurred_at=now, source="crm", data={"key": key, "task_id": state.remote_id})
              for key, state in states.items() if state.status == "completed"]
    with store.session() as session:
        return record_events(session, events)
