"""`POST /v1.0/$batch`: JSON batching (up to 20 requests, `dependsOn`, per-request status/headers/body).

Every inner request goes through the same gateway as a lone call (auth from the outer
request, permission, per-mailbox limits, stats), so each counts against the limits.
Non-JSON bodies (`$value` MIME) come back base64-encoded, as Graph returns them.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from threadline.sandbox.graph.calls import ApiCall, ApiReply
from threadline.sandbox.graph.errors import GraphError, bad_request
from threadline.sandbox.graph.gateway import Gateway

_GRAPH_ROOTS = ("https://graph.microsoft.com/v1.0", "/v1.0")


def run_batch(gateway: Gateway, call: ApiCall) -> ApiReply:
    """Answer a batch; 400 for a malformed or oversized batch, else 200 with one response per request."""
    requests = call.json().get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format.")
    limit = gateway.settings.graph_batch_max
    if len(requests) > limit:
        raise bad_request(f"The number of requests in the batch exceeds the limit of {limit}.")
    ids = [str(r.get("id", "")) for r in requests]
    if "" in ids or len(set(ids)) != len(ids):
        raise bad_request("Batch request ids must be present and unique.")
    statuses: dict[str, int] = {}
    responses = []
    for request in _in_dependency_order(requests, set(ids)):
        failed = [d for d in request.get("dependsOn") or [] if statuses.get(str(d), 599) >= 400]
        if failed:
            reply = ApiReply(424, GraphError(424, "FailedDependency", "Dependent request failed.").body())
        else:
            reply = gateway.handle(_inner_call(request, call), inner=True)
        statuses[str(request["id"])] = reply.status
        responses.append(_response(str(request["id"]), reply))
    return ApiReply(200, {"responses": responses})


def _in_dependency_order(requests: list[dict[str, Any]], ids: set[str]) -> list[dict[str, Any]]:
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = list(requests)
    while pending:
        ready = [r for r in pending if {str(d) for d in r.get("dependsOn") or []} <= done]
        if not ready:
            raise bad_request("Batch request dependsOn refers to an unknown or circular request id.")
        for request in ready:
            if not {str(d) for d in request.get("dependsOn") or []} <= ids:
                raise bad_request("Batch request dependsOn refers to an unknown request id.")
            ordered.append(request)
            done.add(str(request["id"]))
            pending.remove(request)
    return ordered


def _inner_call(request: dict[str, Any], outer: ApiCall) -> ApiCall:
    url = str(request.get("url", ""))
    for root in _GRAPH_ROOTS:
        url = url.removeprefix(root)
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    headers.setdefault("authorization", outer.headers.get("authorization", ""))
    body = request.get("body")
    if isinstance(body, dict | list):
        content = json.dumps(body).encode()
    elif isinstance(body, str):
        content = base64.b64decode(body)
    else:
        content = b""
    return ApiCall(str(request.get("method", "GET")).upper(), parts.path,
                   dict(parse_qsl(parts.query, keep_blank_values=True)), headers, content, outer.base_url)


def _response(request_id: str, reply: ApiReply) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request_id, "status": reply.status, "headers": dict(reply.headers)}
    if reply.body is None:
        return item
    item["headers"].setdefault("Content-Type", reply.content_type or "application/json")
    if isinstance(reply.body, bytes):
        item["body"] = base64.b64encode(reply.body).decode()
    else:
        item["body"] = reply.body
    return item
