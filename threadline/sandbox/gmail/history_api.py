"""users.history.list: changes after startHistoryId, 404 once that id is too old."""

from __future__ import annotations

from typing import Any

from threadline.sandbox.gmail.errors import invalid, not_found
from threadline.sandbox.gmail.invocation import Invocation, page_token, read_page_token
from threadline.sandbox.gmail.mailbox import HistoryExpired, HistoryRecord

MAX_HISTORY_RESULTS = 500
_FIELDS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
           "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}


def list_history(inv: Invocation) -> dict[str, Any]:
    """Records with id > startHistoryId, filtered by historyTypes/labelId, paged; `historyId` is current."""
    call = inv.call
    start_text = call.param("startHistoryId")
    if not start_text or not start_text.isdigit():
        raise invalid("Invalid startHistoryId" if start_text else "Missing startHistoryId")
    if inv.faults.take("gmail", call.method, call.path, kinds=("expired_history",)):
        raise not_found()
    start = int(start_text)
    if call.param("pageToken"):
        start = max(start, int(read_page_token(call.param("pageToken") or "", 1)[0]))
    try:
        records = inv.mailbox.history_after(start)
    except HistoryExpired:
        raise not_found() from None
    records = _filtered(records, call.params("historyTypes"), call.param("labelId"))
    size = call.int_param("maxResults", 100, MAX_HISTORY_RESULTS) or 100
    body: dict[str, Any] = {"historyId": str(inv.mailbox.history_id)}
    if records:
        body["history"] = [_record(r) for r in records[:size]]
    if len(records) > size:
        body["nextPageToken"] = page_token(records[size - 1].id)
    return body


def _filtered(records: list[HistoryRecord], types: list[str], label: str | None) -> list[HistoryRecord]:
    for kind in types:
        if kind not in _FIELDS:
            raise invalid(f"Invalid value for historyTypes: {kind}")
    return [r for r in records if (not types or r.kind in types)
            and (label is None or label in r.message_labels or label in r.changed_labels)]


def _record(record: HistoryRecord) -> dict[str, Any]:
    ref = {"id": record.message_id, "threadId": record.thread_id}
    change: dict[str, Any] = {"message": {**ref, "labelIds": list(record.message_labels)}}
    if record.changed_labels:
        change["labelIds"] = list(record.changed_labels)
    return {"id": str(record.id), "messages": [ref], _FIELDS[record.kind]: [change]}
