"""Stored messages as Graph `message` JSON, honouring `$select`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from threadline.sandbox.graph.mailbox import Mailbox, StoredMessage
from threadline.sandbox.graph.mime import recipient

ODATA_TYPE = "#microsoft.graph.message"


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def message_json(box: Mailbox, msg: StoredMessage, select: list[str] | None) -> dict[str, Any]:
    """The message resource; with `select`, only those properties (plus id and the etag, as Graph does)."""
    env = msg.envelope
    full: dict[str, Any] = {
        "@odata.etag": f'W/"{msg.change_key}"', "id": msg.id,
        "createdDateTime": iso(msg.created), "lastModifiedDateTime": iso(msg.modified),
        "changeKey": msg.change_key, "categories": list(msg.categories),
        "receivedDateTime": iso(msg.received), "sentDateTime": iso(env.sent_at or msg.received),
        "hasAttachments": False, "internetMessageId": env.internet_message_id,
        "subject": env.subject, "bodyPreview": env.preview, "importance": "normal",
        "parentFolderId": box.folder_ids[msg.folder], "conversationId": msg.conversation_id,
        "isDeliveryReceiptRequested": False, "isReadReceiptRequested": False, "isRead": msg.is_read,
        "isDraft": False, "webLink": f"https://outlook.office365.com/owa/?ItemID={msg.id}&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused", "body": {"contentType": env.body_type, "content": env.body},
        "sender": recipient(env.sender) if env.sender else None,
        "from": recipient(env.sender) if env.sender else None,
        "toRecipients": [recipient(r) for r in env.to], "ccRecipients": [recipient(r) for r in env.cc],
        "bccRecipients": [], "replyTo": [], "flag": {"flagStatus": "notFlagged"},
    }
    if not select:
        return full
    wanted = {name.strip().lower() for name in select}
    return {key: value for key, value in full.items()
            if key in ("@odata.etag", "id") or key.lower() in wanted}


def delta_item(box: Mailbox, message_id: str, msg: StoredMessage | None, select: list[str] | None) -> dict[str, Any]:
    if msg is None:
        return {"@odata.type": ODATA_TYPE, "id": message_id, "@removed": {"reason": "deleted"}}
    return {"@odata.type": ODATA_TYPE, **message_json(box, msg, select)}
