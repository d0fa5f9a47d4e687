"""Message, thread and label resources in the shapes of the Gmail API's JSON."""

from __future__ import annotations

from typing import Any

from threadline.sandbox.gmail import mime
from threadline.sandbox.gmail.errors import invalid
from threadline.sandbox.gmail.mailbox import SYSTEM_LABELS, StoredMessage

FORMATS = ("minimal", "metadata", "full", "raw")


def message(msg: StoredMessage, fmt: str = "full", metadata_headers: list[str] | None = None) -> dict[str, Any]:
    """A `Message` resource in one of the four formats."""
    if fmt not in FORMATS:
        raise invalid(f"Invalid value for format: {fmt}")
    body: dict[str, Any] = {
        "id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels), "snippet": msg.snippet(),
        "sizeEstimate": len(msg.raw), "historyId": str(msg.history_id), "internalDate": str(msg.internal_date),
    }
    if fmt == "raw":
        body["raw"] = mime.b64url(msg.raw)
    elif fmt == "metadata":
        only = {h.lower() for h in metadata_headers} if metadata_headers else None
        body["payload"] = mime.payload(msg.parsed(), metadata_only=True, only_headers=only)
    elif fmt == "full":
        body["payload"] = mime.payload(msg.parsed())
    return body


def reference(msg: StoredMessage) -> dict[str, str]:
    return {"id": msg.id, "threadId": msg.thread_id}


def labels(user_labels: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The system labels, then the mailbox's own (`Mailbox.user_labels`)."""
    result = []
    for label in SYSTEM_LABELS:
        entry: dict[str, Any] = {"id": label, "name": label, "type": "system"}
        if not label.startswith("CATEGORY_"):
            entry.update(messageListVisibility="hide", labelListVisibility="labelShow")
        result.append(entry)
    return result + [dict(label) for label in user_labels or ()]
