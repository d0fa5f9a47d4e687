"""Absolute reply properties for a contact, computed from what has been logged (so a retry is harmless)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, col, select

from threadline.sync.store.tables import OutboxRow


def reply_properties(session: Session, contact_id: str, names: dict[str, str], snippet_chars: int) -> dict[str, str]:
    """last reply time (ms since epoch, HubSpot datetime), snippet and count of incoming mail logged on the contact."""
    rows = session.exec(select(OutboxRow.payload).where(
        OutboxRow.kind == "log_email", OutboxRow.contact_id == contact_id, OutboxRow.status == "done")
        .order_by(col(OutboxRow.id))).all()
    replies = [p for p in (json.loads(r) for r in rows) if p.get("direction") == "incoming"]
    if not replies:
        return {names["reply_count"]: "0"}
    latest = max(replies, key=lambda p: p["occurred_at"])
    at = datetime.fromisoformat(latest["occurred_at"])
    snippet = " ".join(latest["text"].split())[:snippet_chars]
    return {
        names["last_reply_at"]: str(int(at.timestamp() * 1000)),
        names["last_reply_snippet"]: snippet,
        names["reply_count"]: str(len(replies)),
    }
