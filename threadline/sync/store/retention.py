"""Retention: forget message headers, reply context and finished work older than the configured window.

Deleted when older than the window (`store.retention_days`):
- message rows (headers, decision, cached reply text), by when they were seen;
- deferred mail (raw headers and text waiting to be decided again), by when it was deferred;
- outbox rows that are over (done, failed, cancelled), by their last update: their payload is the logged text;
- recorded sync errors, by when they happened (they may quote an address).
Cleared, not deleted: the subject and reply text cached in mail events (reply.received, email.sent,
auto_reply.received). The events themselves stay, because scoring windows and decay, silence detection and
the sequences' entry rules read a contact's whole history; deleting them would change scores and re-write them
to the CRM. Kept: the contact mirror (the CRM's own, re-pulled anyway), enrolments (`once_per_contact` reads
them), the audit log of what was written to the CRM, cursors, leases and work still pending or in flight.

Safe because nothing downstream needs the deleted rows: a message read again after its row is gone is logged
only if the CRM has no activity with its key (look-before-create).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from threadline.sync.store.tables import (
    DeferredMailRow,
    EventRow,
    MessageRow,
    OutboxRow,
    SyncErrorRow,
    utcnow,
)

#: Outbox states that are over: nothing will perform the row again.
FINISHED = ("done", "failed", "cancelled")
#: Mail events whose data caches the message's subject and reply text, and those keys.
MAIL_EVENTS = ("reply.received", "email.sent", "auto_reply.received")
CACHED_KEYS = ("subject", "text")
#: Events cleared per call: a first run over years of history is spread over cycles instead of one long one.
EVENTS_PER_CALL = 2000


def purge_expired(session: Session, keep: timedelta, now: datetime | None = None) -> int:
    """Delete (and clear) what is older than `now - keep` (see the module docstring). Returns rows deleted.

    `now` is the engine's clock (tests move it); by default the wall clock."""
    cutoff = (now or utcnow()) - keep
    messages = session.exec(delete(MessageRow).where(col(MessageRow.seen_at) < cutoff))
    deferred = session.exec(delete(DeferredMailRow).where(col(DeferredMailRow.deferred_at) < cutoff))
    finished = session.exec(delete(OutboxRow).where(col(OutboxRow.status).in_(FINISHED),
                                                    col(OutboxRow.updated_at) < cutoff))
    errors = session.exec(delete(SyncErrorRow).where(col(SyncErrorRow.at) < cutoff))
    clear_cached_text(session, cutoff)
    return sum(int(result.rowcount or 0) for result in (messages, deferred, finished, errors))


def clear_cached_text(session: Session, cutoff: datetime, limit: int = EVENTS_PER_CALL) -> int:
    """Drop the subject and reply text from mail events that occurred before `cutoff`; returns events cleared."""
    holds_text = col(EventRow.data).contains('"subject"') | col(EventRow.data).contains('"text"')
    rows = session.exec(select(EventRow).where(col(EventRow.type).in_(MAIL_EVENTS),
                                               col(EventRow.occurred_at) < cutoff, holds_text)
                        .order_by(col(EventRow.seq)).limit(limit)).all()
    cleared = 0
    for row in rows:
        data = json.loads(row.data or "{}")
        if any(key in data for key in CACHED_KEYS):
            row.data = json.dumps({k: v for k, v in data.items() if k not in CACHED_KEYS}, default=str,
                                  sort_keys=True)
            session.add(row)
            cleared += 1
    return cleared
