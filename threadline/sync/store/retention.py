"""Retention: forget message headers, reply context and finished outbox rows older than the configured window.

Safe because nothing downstream depends on old rows: a message read again after its
row is gone is logged only if the CRM has no activity with its key (look-before-create).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, delete

from threadline.sync.store.tables import DeferredMailRow, MessageRow, OutboxRow, utcnow


def purge_expired(session: Session, keep: timedelta) -> int:
    """Delete messages seen (deferred ones too), and outbox rows finished, before now - keep. Returns rows deleted."""
    cutoff = utcnow() - keep
    messages = session.exec(delete(MessageRow).where(col(MessageRow.seen_at) < cutoff))
    session.exec(delete(DeferredMailRow).where(col(DeferredMailRow.deferred_at) < cutoff))
    finished = session.exec(delete(OutboxRow).where(col(OutboxRow.status).in_(["done", "failed"]),
                                                    col(OutboxRow.updated_at) < cutoff))
    return int(messages.rowcount or 0) + int(finished.rowcount or 0)
