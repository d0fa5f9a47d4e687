"""`POST /batch/gmail/v1`: multipart/mixed of up to 100 `application/http` requests.

Each part goes through the same gateway as a lone call (auth, quota, stats), so
every part counts against the user's quota. Response parts carry
`Content-ID: <response-ID>` for request part `Content-ID: <ID>`.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from threadline.sandbox.gmail.calls import ApiCall, ApiReply
from threadline.sandbox.gmail.errors import invalid
from threadline.sandbox.gmail.gateway import Gateway
from threadline.sandbox.gmail.uploads import split_multipart

MAX_PARTS = 100


def run_batch(gateway: Gateway, content_type: str, body: bytes, authorization: str | None) -> tuple[bytes, str]:
    """Answer a batch body; returns (response body, response content type). Raises GoogleError 400."""
    parts = split_multipart(content_type, body)
    if len(parts) > MAX_PARTS:
        raise invalid(f"Too many requests in batch: {len(parts)} (the limit is {MAX_PARTS}).")
    boundary = "batch_" + secrets.token_hex(12)
    out = []
    for headers, payload in parts:
        call = _inner_call(payload, authorization)
        reply = gateway.handle(call)
        out.append(_response_part(boundary, headers.get("content-id", ""), reply))
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/mixed; boundary={boundary}"


def _inner_call(payload: bytes, authorization: str | None) -> ApiCall:
    text = payload.replace(b"\r\n", b"\n")
    head, _, content = text.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").split("\n")
    method, target, *_ = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "authorization" not in headers and authorization:
        headers["authorization"] = authorization      # parts inherit the outer request's credentials
    url = urlsplit(target)
    return ApiCall(method.upper(), url.path, parse_qsl(url.query, keep_blank_values=True), headers, content.strip())


def _response_part(boundary: str, content_id: str, reply: ApiReply) -> bytes:
    inner_id = content_id.strip()
    response_id = f"<response-{inner_id[1:-1]}>" if inner_id.startswith("<") else f"<response-{inner_id}>"
    reason = HTTPStatus(reply.status).phrase
    content = reply.content()
    head = [f"--{boundary}", "Content-Type: application/http", f"Content-ID: {response_id}", "",
            f"HTTP/1.1 {reply.status} {reason}"]
    if reply.body is not None:
        head.append("Content-Type: application/json; charset=UTF-8")
    head += [f"{name}: {value}" for name, value in reply.headers.items()]
    head += [f"Content-Length: {len(content)}", "", ""]
    return "\r\n".join(head).encode() + content + b"\r\n"
