"""`GET /users/{id}/mailFolders/{folder}/messages/delta`: rounds of pages, nextLink then deltaLink.

State lives in opaque `$skiptoken`/`$deltatoken` values (the query options of the
first request are encoded in them, as Graph does). A token from before
`expire_delta()`, or an unreadable one, answers 410 `SyncStateNotFound`.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from threadline.sandbox.graph.calls import ApiReply
from threadline.sandbox.graph.errors import bad_request, sync_state_not_found
from threadline.sandbox.graph.invocation import Invocation
from threadline.sandbox.graph.mailbox import StoredMessage
from threadline.sandbox.graph.render import delta_item

_FILTER = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)
_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str, generation: int) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise sync_state_not_found(generation) from None
    if not isinstance(state, dict) or not {"f", "s", "e"} <= state.keys():
        raise sync_state_not_found(generation)
    return state


def messages_delta(inv: Invocation) -> ApiReply:
    """One page of the current round; the last page carries the deltaLink for the next round."""
    call, box = inv.call, inv.box
    folder = box.folder(inv.args["folder"])
    if inv.faults.take("graph", call.method, "/v1.0" + call.path, kinds=("expired_history",)):
        raise sync_state_not_found(box.epoch)
    state = _state(inv, folder)
    size, applied = _page_size(call.headers.get("prefer", ""), inv.settings)
    keep = _filter(state.get("q"))
    items, last, more = box.round_page(folder, state["s"], state["u"], state.get("a", 0), size, keep)
    select = state.get("sel")
    link = f"{call.base_url}/v1.0{call.path}"
    body: dict[str, Any] = {"@odata.context": f"{call.base_url}/v1.0/$metadata#Collection(message)",
                            "value": [delta_item(box, mid, msg, select) for mid, msg in items]}
    if more:
        body["@odata.nextLink"] = f"{link}?$skiptoken={_encode({**state, 'a': last})}"
    else:
        token = _encode({"f": folder, "s": state["u"], "e": state["e"], "q": state.get("q"), "sel": select})
        body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
    return ApiReply(200, body, {"Preference-Applied": f"odata.maxpagesize={size}"} if applied else {})


def _state(inv: Invocation, folder: str) -> dict[str, Any]:
    box, query = inv.box, inv.call.query
    with box.lock:
        if "$skiptoken" in query:
            state = _decode(query["$skiptoken"], box.epoch)
        elif "$deltatoken" in query:
            state = {**_decode(query["$deltatoken"], box.epoch), "u": box.seq, "a": 0}
        else:
            state = {"f": folder, "s": 0, "u": box.seq, "a": 0, "e": box.epoch,
                     "q": _parse_filter(query.get("$filter")), "sel": inv.select()}
    if state["e"] != box.epoch or state["f"] != folder or "u" not in state:
        raise sync_state_not_found(box.epoch)
    return state


def _parse_filter(text: str | None) -> list[str] | None:
    """Delta on messages supports only `receivedDateTime ge|gt {value}`."""
    if not text:
        return None
    found = _FILTER.match(text)
    if not found:
        raise bad_request("The query filter contains one or more invalid nodes.", "ErrorInvalidUrlQueryFilter")
    try:
        datetime.fromisoformat(found.group(2).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("The DateTimeOffset text value is not valid.", "ErrorInvalidUrlQueryFilter") from None
    return [found.group(1).lower(), found.group(2)]


def _filter(parsed: list[str] | None) -> Any:
    if not parsed:
        return lambda msg: True
    op, value = parsed
    bound = datetime.fromisoformat(value.replace("Z", "+00:00"))

    def keep(msg: StoredMessage) -> bool:
        return msg.received >= bound if op == "ge" else msg.received > bound
    return keep


def _page_size(prefer: str, settings: Any) -> tuple[int, bool]:
    found = _PAGE_SIZE.search(prefer)
    if not found:
        return settings.graph_delta_default_page, False
    return max(1, min(int(found.group(1)), settings.graph_delta_max_page)), True
