"""Gmail's views of an RFC 822 message: the `payload` part tree, header lists and the snippet."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import re
from email.message import Message
from typing import Any

SNIPPET_LENGTH = 200


def b64url(data: bytes) -> str:
    """Gmail's base64url (with padding, as the API returns it)."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def header_list(msg: Message, only: set[str] | None = None) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in msg.items()
            if only is None or name.lower() in only]


def payload(msg: Message, part_id: str = "", *, metadata_only: bool = False,
            only_headers: set[str] | None = None) -> dict[str, Any]:
    """The `payload` MessagePart tree; bodies are base64url, attachments are referenced by id."""
    part: dict[str, Any] = {"partId": part_id, "mimeType": msg.get_content_type(),
                            "filename": msg.get_filename() or "", "headers": header_list(msg, only_headers)}
    if metadata_only:
        return part
    if msg.is_multipart():
        part["body"] = {"size": 0}
        children = msg.get_payload()
        prefix = f"{part_id}." if part_id else ""
        part["parts"] = [payload(child, f"{prefix}{i}") for i, child in enumerate(children)
                         if isinstance(child, Message)]     # a multipart's payload is a list of parts
        return part
    data = _body_bytes(msg)
    if part["filename"]:
        part["body"] = {"attachmentId": f"ANGjdJ-{part_id or '0'}", "size": len(data)}
    else:
        part["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
    return part


def snippet(msg: Message) -> str:
    """The first words of the text body, whitespace-collapsed and HTML-escaped, as Gmail shows it."""
    text = _first_text(msg)
    return html.escape(" ".join(text.split())[:SNIPPET_LENGTH])


def _first_text(msg: Message) -> str:
    for part in msg.walk():
        if part.is_multipart() or part.get_filename():
            continue
        if part.get_content_type() in ("text/plain", "text/html"):
            data = _body_bytes(part)
            try:
                text = data.decode(part.get_content_charset() or "utf-8", errors="replace")
            except LookupError:  # Gmail still shows a snippet for a charset nobody knows
                text = data.decode("utf-8", errors="replace")
            if part.get_content_type() == "text/html":
                text = html.unescape(re.sub(r"<[^>]+>", " ", text))
            return text
    return ""


def _body_bytes(part: Message) -> bytes:
    """The transfer-decoded body of a leaf part (b"" where there is none)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""
