"""Sending as the mailbox owner: sendMail with MIME, drafts (JSON or MIME) and `/send`, and the
`$filter=internetMessageId eq '...'` lookup on message lists that finds sent mail again."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from threadline.sandbox.graph.calls import ApiReply
from threadline.sandbox.graph.compose import compose
from threadline.sandbox.graph.errors import bad_request
from threadline.sandbox.graph.invocation import Invocation
from threadline.sandbox.graph.mime import parse_envelope
from threadline.sandbox.graph.render import message_json

_FILTER = re.compile(r"^\s*internetMessageId\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
MAX_TOP = 1000


def is_mime(inv: Invocation) -> bool:
    return inv.call.headers.get("content-type", "").split(";")[0].strip().lower() == "text/plain"


def mime_body(inv: Invocation) -> bytes:
    """The base64 MIME a text/plain request carries (Graph's MIME format for sendMail and create)."""
    try:
        raw = base64.b64decode(inv.call.body, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise bad_request("Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String") from exc
    if not raw.strip() or b":" not in raw.split(b"\n", 1)[0]:
        raise bad_request("Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String")
    return raw


def send_mime(inv: Invocation) -> ApiReply:
    """sendMail in MIME format: 202, a copy in Sent Items with the MIME's own headers (Message-ID included)."""
    inv.services.sent(inv.box, mime_body(inv), save=True)
    return ApiReply(202, None)


def create_draft(inv: Invocation) -> ApiReply:
    """POST /messages: a draft from JSON (internetMessageId, x- headers) or from MIME; 201 with the message."""
    raw = mime_body(inv) if is_mime(inv) else compose(inv.box.address, inv.call.json(), datetime.now(UTC))
    msg = inv.box.add(raw, parse_envelope(raw), "drafts", datetime.now(UTC))
    return ApiReply(201, {**message_json(inv.box, msg, None), "isDraft": True})


def send_draft(inv: Invocation) -> ApiReply:
    """POST /messages/{id}/send: the draft leaves Drafts; the Sent Items copy has a new id, same internetMessageId."""
    draft = inv.box.get(inv.args["id"])
    if draft.folder != "drafts":
        raise bad_request("Only draft messages can be sent.", "ErrorInvalidOperation")
    inv.box.delete(draft.id)
    inv.services.sent(inv.box, draft.raw, save=True)
    return ApiReply(202, None)


def list_messages(inv: Invocation) -> ApiReply:
    """Messages of one folder (or the whole mailbox), newest first, narrowed by an internetMessageId filter."""
    folder = inv.box.folder(inv.args["folder"]) if "folder" in inv.args else None
    found = [m for m in inv.box.snapshot(folder) if m.folder != "drafts" or folder == "drafts"]
    wanted = _filter_value(inv.call.query.get("$filter"))
    if wanted is not None:
        found = [m for m in found if (m.envelope.internet_message_id or "") == wanted]
    top = min(int(inv.call.query.get("$top", "10")), MAX_TOP)
    page = sorted(found, key=lambda m: (m.received, m.id), reverse=True)[:top]
    return ApiReply(200, {"value": [message_json(inv.box, m, inv.select()) for m in page]})


def _filter_value(expression: str | None) -> str | None:
    if not expression:
        return None
    found = _FILTER.match(expression)
    if found is None:
        raise bad_request(f"Invalid filter clause: {expression}", "ErrorInvalidUrlQueryFilter")
    return found.group(1)


