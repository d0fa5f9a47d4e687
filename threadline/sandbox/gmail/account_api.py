"""users.getProfile, users.labels.list, users.threads.get, users.watch and users.stop."""

from __future__ import annotations

import time
from typing import Any

from threadline.sandbox.gmail import render
from threadline.sandbox.gmail.errors import invalid
from threadline.sandbox.gmail.invocation import Invocation

WATCH_SECONDS = 7 * 24 * 3600               # Gmail watches expire after 7 days


def get_profile(inv: Invocation) -> dict[str, Any]:
    mailbox = inv.mailbox
    with mailbox.lock:
        messages = mailbox.snapshot()
        return {"emailAddress": mailbox.address, "messagesTotal": len(messages),
                "threadsTotal": len({m.thread_id for m in messages}), "historyId": str(mailbox.history_id)}


def list_labels(inv: Invocation) -> dict[str, Any]:
    with inv.mailbox.lock:
        return {"labels": render.labels(list(inv.mailbox.user_labels.values()))}


def create_label(inv: Invocation) -> dict[str, Any]:
    """users.labels.create: a user label with the given name (409 when the name is taken)."""
    body = inv.call.json()
    return inv.mailbox.create_label(str(body.get("name") or ""), **{
        k: v for k, v in body.items() if k in ("messageListVisibility", "labelListVisibility")})


def get_thread(inv: Invocation) -> dict[str, Any]:
    messages = inv.mailbox.thread(inv.args["id"])
    fmt = inv.call.param("format", "full") or "full"
    if fmt == "raw":
        raise invalid("Invalid value for format: raw")
    return {"id": inv.args["id"], "historyId": str(max(m.history_id for m in messages)),
            "messages": [render.message(m, fmt, inv.call.params("metadataHeaders")) for m in messages]}


def watch(inv: Invocation) -> dict[str, Any]:
    """Stored only: push delivery to Pub/Sub is not simulated yet."""
    body = inv.call.json()
    if not body.get("topicName"):
        raise invalid("Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC")
    expiration = int((time.time() + WATCH_SECONDS) * 1000)
    with inv.mailbox.lock:
        inv.mailbox.watch = {**body, "expiration": expiration}
        return {"historyId": str(inv.mailbox.history_id), "expiration": str(expiration)}


def stop(inv: Invocation) -> None:
    with inv.mailbox.lock:
        inv.mailbox.watch = None
