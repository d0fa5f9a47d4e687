"""Gmail `Message` resources (format=raw) to RawMessage records."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from threadline.adapters.records import Folder, RawMessage

#: Labels whose messages are never mail to sync (drafts, Hangouts chats, spam, bin).
SKIPPED_LABELS = frozenset({"DRAFT", "CHAT", "SPAM", "TRASH"})


def folder_of(labels: Iterable[str]) -> Folder | None:
    """"sent" if SENT (SENT wins over INBOX: mail to oneself is outgoing), "inbox" if INBOX, else None."""
    found = set(labels)
    if found & SKIPPED_LABELS:
        return None
    if "SENT" in found:
        return "sent"
    return "inbox" if "INBOX" in found else None


def raw_message(resource: dict[str, Any], label_names: Callable[[list[str]], tuple[str, ...]] | None = None
                ) -> RawMessage | None:
    """The RawMessage for a format=raw resource, or None if it is not INBOX/SENT mail. `label_names` turns the
    message's label ids into names (labels.LabelNames); without it the labels are not read (None)."""
    folder = folder_of(resource.get("labelIds", ()))
    if folder is None or "raw" not in resource:
        return None
    raw = str(resource["raw"])
    internal = resource.get("internalDate")
    return RawMessage(
        provider_id=str(resource["id"]), folder=folder,
        raw=base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)),
        thread_id=resource.get("threadId"),
        internal_date=datetime.fromtimestamp(int(internal) / 1000, UTC) if internal else None,
        labels=label_names([str(i) for i in resource.get("labelIds", ())]) if label_names else None,
    )
