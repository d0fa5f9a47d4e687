"""users.messages.*: list, get, insert, import, send, modify, delete."""

from __future__ import annotations

import time
import uuid
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from threadline.sandbox.gmail import mime, render
from threadline.sandbox.gmail.invocation import Invocation, page_token, read_page_token
from threadline.sandbox.gmail.query import compile_query
from threadline.sandbox.gmail.uploads import uploaded_message

MAX_LIST_RESULTS = 500


def list_messages(inv: Invocation) -> dict[str, Any]:
    """Newest first; keyset page tokens so paging is stable while mail arrives."""
    call = inv.call
    size = call.int_param("maxResults", 100, MAX_LIST_RESULTS) or 100
    match = compile_query(call.param("q"))
    wanted = set(call.params("labelIds"))
    hide_spam = call.param("includeSpamTrash", "false") != "true"
    found = [m for m in inv.mailbox.snapshot()
             if wanted <= m.labels and not (hide_spam and m.labels & {"SPAM", "TRASH"}) and match(m)]
    found.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
    if call.param("pageToken"):
        date, last_id = read_page_token(call.param("pageToken") or "", 2)
        found = [m for m in found if (m.internal_date, m.id) < (int(date), last_id)]
    page = found[:size]
    body: dict[str, Any] = {"resultSizeEstimate": len(found)}
    if page:
        body["messages"] = [render.reference(m) for m in page]
    if len(found) > size:
        body["nextPageToken"] = page_token(page[-1].internal_date, page[-1].id)
    return body


def get_message(inv: Invocation) -> dict[str, Any]:
    msg = inv.mailbox.get(inv.args["id"])
    return render.message(msg, inv.call.param("format", "full") or "full", inv.call.params("metadataHeaders"))


def insert_message(inv: Invocation) -> dict[str, Any]:
    """insert (IMAP APPEND-like, receivedTime by default) and import (dateHeader by default)."""
    raw, meta = uploaded_message(inv.call)
    default_source = "dateHeader" if inv.route == "messages.import" else "receivedTime"
    source = inv.call.param("internalDateSource", default_source)
    labels = meta.get("labelIds") or (["INBOX", "UNREAD"] if inv.route == "messages.import" else [])
    msg = inv.mailbox.add(raw, labels, thread_id=meta.get("threadId"), internal_date=_internal_date(raw, source))
    return render.message(msg, "minimal")


def send_message(inv: Invocation) -> dict[str, Any]:
    """Sends as the user: SENT label, Message-ID/Date/From filled in when missing."""
    raw, meta = uploaded_message(inv.call)
    msg = inv.mailbox.add(_completed(raw, inv.mailbox.address), ["SENT"], thread_id=meta.get("threadId"))
    return {"id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels)}


def modify_message(inv: Invocation) -> dict[str, Any]:
    body = inv.call.json()
    msg = inv.mailbox.modify(inv.args["id"], list(body.get("addLabelIds", [])), list(body.get("removeLabelIds", [])))
    return render.message(msg, "minimal")


def delete_message(inv: Invocation) -> None:
    inv.mailbox.delete(inv.args["id"])


def _internal_date(raw: bytes, source: str | None) -> int:
    if source == "dateHeader":
        try:
            return int(parsedate_to_datetime(str(mime.parse(raw)["Date"])).timestamp() * 1000)
        except (TypeError, ValueError):
            pass
    return int(time.time() * 1000)


def _completed(raw: bytes, address: str) -> bytes:
    msg = mime.parse(raw)
    if msg["Message-ID"] is None:
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@mail.gmail.com>"
    if msg["Date"] is None:
        msg["Date"] = formatdate(localtime=False)
    if msg["From"] is None:
        msg["From"] = address
    return msg.as_bytes()

