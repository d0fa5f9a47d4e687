"""From RFC 822 bytes to the Graph `message` fields the simulator stores (parsed once, at delivery)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
PREVIEW_LENGTH = 255


@dataclass(frozen=True)
class Envelope:
    """What Graph shows of a message's headers and body, plus threading references."""

    internet_message_id: str | None
    subject: str
    sender: tuple[str, str] | None           # (name, address)
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    sent_at: datetime | None
    references: tuple[str, ...]              # In-Reply-To first, then References newest-first
    preview: str
    body_type: str                           # "text" | "html"
    body: str


def parse_envelope(raw: bytes) -> Envelope:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    found = _MESSAGE_ID.findall(str(msg.get("Message-ID", "")))
    refs = _MESSAGE_ID.findall(str(msg.get("In-Reply-To", "")))
    refs += list(reversed(_MESSAGE_ID.findall(str(msg.get("References", "")))))
    senders = _addresses(msg, "From")
    body_type, body = _body(msg)
    return Envelope(found[0] if found else None, _header(msg, "Subject"), senders[0] if senders else None,
                    _addresses(msg, "To"), _addresses(msg, "Cc"), _date(msg), tuple(refs),
                    " ".join(body.split())[:PREVIEW_LENGTH], body_type, body)


def recipient(pair: tuple[str, str]) -> dict[str, Any]:
    return {"emailAddress": {"name": pair[0] or pair[1], "address": pair[1]}}


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return str(email.header.make_header(email.header.decode_header(str(value))))


def _addresses(msg: Message, name: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, a) for n, a in getaddresses([_header(msg, name)]) if a)


def _date(msg: Message) -> datetime | None:
    try:
        value = parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _body(msg: Message) -> tuple[str, str]:
    for wanted in ("text/html", "text/plain"):
        for part in msg.walk():
            if part.get_content_type() == wanted and not part.get_filename():
                raw = part.get_payload(decode=True)
                data = raw if isinstance(raw, bytes) else b""
                text = data.decode(part.get_content_charset() or "utf-8", errors="replace")
                return ("html" if wanted == "text/html" else "text"), text
    return "text", ""
