"""The two ways a message reaches insert/import/send: JSON `raw`, or a media upload on /upload/..."""

from __future__ import annotations

import json
import re
from typing import Any

from threadline.sandbox.gmail import mime
from threadline.sandbox.gmail.calls import ApiCall
from threadline.sandbox.gmail.errors import invalid

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def uploaded_message(call: ApiCall) -> tuple[bytes, dict[str, Any]]:
    """(RFC 822 bytes, Message metadata such as labelIds/threadId). Raises GoogleError 400."""
    if not call.upload:
        meta = call.json()
        if not meta.get("raw"):
            raise invalid("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
        return mime.b64url_decode(str(meta.pop("raw"))), meta
    kind = call.param("uploadType")
    if kind == "media":
        return call.body, {}
    if kind == "multipart":
        return _multipart_related(call)
    raise invalid(f"Unsupported uploadType: {kind}")


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(headers, body) of each part, byte-exact: the parts may hold whole RFC 822 messages."""
    found = _BOUNDARY.search(content_type)
    if not found:
        raise invalid("Missing multipart boundary.")
    delimiter = b"--" + found.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep or b"\n\n" in head:
            head, _, content = chunk.partition(b"\n\n")
        headers = {}
        for line in head.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, _strip_final_newline(content)))
    return parts


def _strip_final_newline(content: bytes) -> bytes:
    if content.endswith(b"\r\n"):
        return content[:-2]
    return content[:-1] if content.endswith(b"\n") else content


def _multipart_related(call: ApiCall) -> tuple[bytes, dict[str, Any]]:
    parts = split_multipart(call.headers.get("content-type", ""), call.body)
    if len(parts) != 2:
        raise invalid("A multipart upload needs a metadata part and a media part.")
    try:
        meta = json.loads(parts[0][1] or b"{}")
    except ValueError as exc:
        raise invalid("Invalid JSON payload received.") from exc
    return parts[1][1], meta if isinstance(meta, dict) else {}
