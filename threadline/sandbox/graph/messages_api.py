"""Messages and folders: get, `$value` (MIME), sendMail, reply, folder lookups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from threadline.sandbox.graph import sending_api
from threadline.sandbox.graph.calls import ApiReply
from threadline.sandbox.graph.compose import compose
from threadline.sandbox.graph.errors import bad_request
from threadline.sandbox.graph.invocation import Invocation
from threadline.sandbox.graph.mailbox import WELL_KNOWN_FOLDERS
from threadline.sandbox.graph.render import message_json


def get_message(inv: Invocation) -> ApiReply:
    msg = inv.box.get(inv.args["id"])
    body = {"@odata.context": f"{inv.call.base_url}/v1.0/$metadata#users('{inv.box.user_id}')/messages/$entity",
            **message_json(inv.box, msg, inv.select())}
    return ApiReply(200, body)


def update_message(inv: Invocation) -> ApiReply:
    """PATCH a message: `categories` (and `isRead`) are the writable properties the sandbox models."""
    body = inv.call.json()
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    msg = inv.box.get(inv.args["id"])
    if "categories" in body:
        categories = body["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise bad_request("Invalid value for property 'categories'.", "ErrorInvalidProperty")
        msg = inv.box.set_categories(msg.id, categories)
    if "isRead" in body:
        inv.box.mark_read(msg.id, bool(body["isRead"]))
    return ApiReply(200, {"@odata.context": f"{inv.call.base_url}/v1.0/$metadata#users('{inv.box.user_id}')/"
                          "messages/$entity", **message_json(inv.box, msg, None)})


def list_categories(inv: Invocation) -> ApiReply:
    """GET /outlook/masterCategories: the user's master category list (MailboxSettings.Read)."""
    with inv.box.lock:
        value = [dict(c) for c in inv.box.master_categories]
    return ApiReply(200, {"@odata.context": f"{inv.call.base_url}/v1.0/$metadata#users('{inv.box.user_id}')/"
                          "outlook/masterCategories", "value": value})


def create_category(inv: Invocation) -> ApiReply:
    """POST /outlook/masterCategories (MailboxSettings.ReadWrite): 201 with the new outlookCategory."""
    body = inv.call.json()
    name = str(body.get("displayName") or "").strip() if isinstance(body, dict) else ""
    if not name:
        raise bad_request("The displayName property is required.", "ErrorInvalidProperty")
    return ApiReply(201, inv.box.add_category(name, str(body.get("color") or "preset0")))


def get_mime(inv: Invocation) -> ApiReply:
    """The message's RFC 822 content, as delivered."""
    return ApiReply(200, inv.box.get(inv.args["id"]).raw, {"Content-Type": "text/plain"})


def _action_parameters(inv: Invocation) -> dict[str, Any]:
    """Action parameters are case-insensitive in Graph (the SDKs send `Message`, `SaveToSentItems`)."""
    return {key[:1].lower() + key[1:]: value for key, value in inv.call.json().items()}


def send_mail(inv: Invocation) -> ApiReply:
    """202 and no body; the message lands in Sent Items (unless saveToSentItems is false)."""
    if sending_api.is_mime(inv):
        return sending_api.send_mime(inv)
    payload = _action_parameters(inv)
    message = payload.get("message")
    if not isinstance(message, dict):
        raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    raw = compose(inv.box.address, message, datetime.now(UTC))
    inv.services.sent(inv.box, raw, save=payload.get("saveToSentItems", True) is not False)
    return ApiReply(202, None)


def reply(inv: Invocation) -> ApiReply:
    original = inv.box.get(inv.args["id"])
    payload = _action_parameters(inv)
    raw = compose(inv.box.address, payload.get("message") or {}, datetime.now(UTC), in_reply_to=original,
                  comment=payload.get("comment"))
    inv.services.sent(inv.box, raw, save=True)
    return ApiReply(202, None)


def folder_json(inv: Invocation, name: str) -> dict[str, Any]:
    box = inv.box
    count = len(box.snapshot(name))
    return {"id": box.folder_ids[name], "displayName": WELL_KNOWN_FOLDERS[name], "parentFolderId": None,
            "childFolderCount": 0, "unreadItemCount": sum(1 for m in box.snapshot(name) if not m.is_read),
            "totalItemCount": count, "isHidden": False}


def get_folder(inv: Invocation) -> ApiReply:
    return ApiReply(200, folder_json(inv, inv.box.folder(inv.args["folder"])))


def list_folders(inv: Invocation) -> ApiReply:
    return ApiReply(200, {"value": [folder_json(inv, name) for name in WELL_KNOWN_FOLDERS]})
