"""What an admin may do to outbox rows by hand (`threadline outbox`): see them, retry failed ones, discard one.

Every retry and discard is written to the audit table (`threadline audit` lists it) with what was done and
why. A row in flight is never touched: a replica may be performing it right now.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from threadline.sync.store.tables import AuditRow, OutboxRow, as_utc, utcnow

ADMIN_RULE = "admin:outbox"


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as `threadline outbox` shows it."""

    key: str
    kind: str
    contact_id: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for name in ("next_attempt_at", "created_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


def unfinished(session: Session, *, failed_only: bool = False, limit: int = 200) -> list[OutboxEntry]:
    """Rows still waiting, in flight or failed (only failed with `failed_only`), oldest first."""
    wanted = ["failed"] if failed_only else ["pending", "in_flight", "failed"]
    rows = session.exec(select(OutboxRow).where(col(OutboxRow.status).in_(wanted))
                        .order_by(col(OutboxRow.id)).limit(limit)).all()
    return [OutboxEntry(r.key, r.kind, r.contact_id, r.status, r.attempts, r.last_error,
                        as_utc(r.next_attempt_at) if r.status == "pending" else None, as_utc(r.created_at))
            for r in rows]


def retry_failed(session: Session, keys: Sequence[str] | None, who: str) -> list[str]:
    """Failed rows (those named, or all when `keys` is None) go back to pending, due now, with a fresh attempt
    count and give-up horizon. Returns the keys retried; a named key that is not failed is left alone."""
    query = select(OutboxRow).where(OutboxRow.status == "failed")
    if keys is not None:
        query = query.where(col(OutboxRow.key).in_(list(keys)))
    retried = []
    for row in session.exec(query.with_for_update()).all():
        _audit(session, row, "retry", f"retried by {who} after: {row.last_error or 'failed'}")
        row.status, row.attempts, row.first_attempt_at = "pending", 0, None
        row.next_attempt_at = row.updated_at = utcnow()
        session.add(row)
        retried.append(row.key)
    return retried


def discard(session: Session, key: str, who: str, reason: str) -> str | None:
    """Cancel one pending or failed row for good. Returns None when done, else why it was not (unknown key,
    in flight, already done or cancelled)."""
    row = session.exec(select(OutboxRow).where(OutboxRow.key == key).with_for_update()).first()
    if row is None:
        return f"no outbox row has the key {key}"
    if row.status not in ("pending", "failed"):
        return f"{key} is {row.status}: only pending or failed rows can be discarded"
    _audit(session, row, "discard", f"discarded by {who}: {reason}")
    row.status, row.last_error = "cancelled", f"discarded by {who}: {reason}"[:1000]
    row.lease_owner = row.lease_until = None
    row.updated_at = utcnow()
    session.add(row)
    return None


def _audit(session: Session, row: OutboxRow, action: str, reason: str) -> None:
    session.add(AuditRow(at=utcnow(), rule=f"{ADMIN_RULE} {action}", contact_id=row.contact_id,
                         effect_key=f"admin:{uuid.uuid4().hex}", kind=row.kind, reason=reason[:1000],
                         detail=json.dumps({"key": row.key, "status": row.status, "attempts": row.attempts,
                                            "last_error": row.last_error}, sort_keys=True)))
