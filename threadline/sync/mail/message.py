"""Parse raw RFC 5322 mail into the fields sync, matching and classification need.

The stdlib `email` package does MIME, with policy.compat32: headers are read raw and
decoded by mime_headers.py, because policy.default re-parses structured headers on
every access (Content-Type alone was half the CPU of the whole ingest path in
bench/message_cpu.py) and is superlinear on huge address lists. Everything around it is
defensive: real mailboxes hold broken charsets, bad base64, missing dates and
header values the stdlib chokes on, and one bad message must not stop a sync.
`parse_message` therefore raises only `MalformedMessage`, and only when there is
no usable sender; smaller damage is repaired and recorded in `problems`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from types import MappingProxyType

from threadline.sync.mail.delivery_status import RecipientStatus, read_delivery_report
from threadline.sync.mail.html_text import html_to_text
from threadline.sync.mail.mime_headers import header_addresses, header_text, raw_header_text

MAX_MESSAGE_BYTES = 16 * 1024 * 1024     # beyond this only the head of the message is parsed
MAX_PART_DEPTH = 12                      # deeper MIME nesting is ignored (and noted)
MAX_PARTS = 200

CLASSIFICATION_HEADERS = (
    "auto-submitted", "x-autoreply", "x-autorespond", "x-autoresponse", "precedence",
    "x-auto-response-suppress", "list-unsubscribe", "list-id", "list-post", "content-type",
    "x-failed-recipients", "return-path", "x-precedence", "x-mailer", "feedback-id", "x-ms-exchange-generated-message-source",
)
MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
# The store's column sizes (messages.thread_ref, messages.from_address). PostgreSQL refuses longer values, and one
# such message failed its page and stuck the mailbox's cursor (found by tests/reliability/test_poison_mail.py).
MAX_ID_CHARS = 400
MAX_ADDRESS_CHARS = 320


class MalformedMessage(ValueError):
    """The bytes are not a message Threadline can attribute to a sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedMessage:
    """What sync keeps of one message. Addresses are lower-cased addr-specs."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None
    text: str                                  # text/plain part, else the HTML part as text
    html: str | None
    headers: Mapping[str, str]                 # CLASSIFICATION_HEADERS present, lower-case names
    is_delivery_report: bool = False           # multipart/report; report-type=delivery-status
    delivery_status: tuple[RecipientStatus, ...] = ()
    bounced_message_id: str | None = None      # Message-ID of the original inside a DSN
    problems: tuple[str, ...] = field(default=())  # repairs made while parsing, for logs


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse `raw`; raises only MalformedMessage (no usable From, or not a message at all)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedMessage(f"expected bytes, got {type(raw).__name__}")
    problems: list[str] = []
    raw = bytes(raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        raw = raw[:MAX_MESSAGE_BYTES]
        problems.append(f"message truncated to {MAX_MESSAGE_BYTES} bytes")
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    except Exception as exc:  # the stdlib parser has its own failure modes; all mean "unparseable"
        raise MalformedMessage(f"unparseable message: {type(exc).__name__}") from None
    try:
        return _build(msg, problems)
    except MalformedMessage:
        raise
    except Exception as exc:  # a stdlib bug on hostile input must not escape as anything else
        raise MalformedMessage(f"unparseable message: {type(exc).__name__}: {exc}"[:200]) from None


def _build(msg: Message, problems: list[str]) -> ParsedMessage:
    from_name, from_address = _sender(msg)
    text, html = _bodies(msg, problems)
    report = read_delivery_report(msg, problems)
    return ParsedMessage(
        message_id=_first_id(_storable(header_text(msg, "message-id"))),
        in_reply_to=_first_id(_storable(header_text(msg, "in-reply-to"))),
        references=_all_ids(_storable(header_text(msg, "references"))),
        subject=_storable(_one_line(header_text(msg, "subject"))),
        from_address=_storable(from_address),
        from_name=_storable(from_name),
        to=tuple(_storable(a) for a in _addresses(msg, "to")),
        cc=tuple(_storable(a) for a in _addresses(msg, "cc")),
        reply_to=tuple(_storable(a) for a in _addresses(msg, "reply-to")),
        date=_date(raw_header_text(msg, "date"), problems),
        text=_storable(text, problems),
        html=_storable(html, problems) if html is not None else None,
        headers=MappingProxyType({n: _storable(header_text(msg, n)) for n in CLASSIFICATION_HEADERS if n in msg}),
        is_delivery_report=report.is_delivery_report,
        delivery_status=report.recipients,
        bounced_message_id=_first_id(report.original_message_id),
        problems=tuple(problems),
    )


def _storable(value: str, problems: list[str] | None = None) -> str:
    """`value` without NUL characters and lone surrogates. PostgreSQL text cannot hold NUL and neither store
    can encode a surrogate, so one such message failed its whole page and stuck the mailbox's cursor
    (found by tests/reliability/test_poison_mail.py and test_fuzz_mime.py)."""
    clean = value.replace("\x00", "")
    try:
        clean.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (e.g. from charset=unicode-escape)
        clean = clean.encode("utf-8", "replace").decode("utf-8")
    if problems is not None and clean != value:
        problems.append("NUL characters or lone surrogates removed from the body")
    return clean


def _sender(msg: Message) -> tuple[str, str]:
    found = header_addresses(msg, "from")
    if not found:
        raise MalformedMessage("no From header")
    pairs = [(name, addr) for name, addr in found if "@" in addr and " " not in addr.strip()]
    if not pairs:
        raise MalformedMessage("From header has no address")
    pairs = [(name, addr) for name, addr in pairs if len(addr.strip()) <= MAX_ADDRESS_CHARS]
    if not pairs:
        raise MalformedMessage(f"From address longer than {MAX_ADDRESS_CHARS} characters")
    name, addr = pairs[0]
    return _one_line(name), addr.strip().lower()


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    found = (addr.strip().lower() for _, addr in header_addresses(msg, name))
    return tuple(dict.fromkeys(addr for addr in found if "@" in addr))


def _first_id(value: str | None) -> str | None:
    ids = _all_ids(value)
    return ids[0] if ids else None


def _all_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in angle brackets; a lone bare token (seen from broken clients) is bracketed; ids longer
    than MAX_ID_CHARS are dropped."""
    if not value or not value.strip():
        return ()
    found = MESSAGE_ID.findall(value)
    if not found and len(value.split()) == 1 and "@" in value:
        found = [f"<{value.strip().strip('<>')}>"]
    return tuple(dict.fromkeys(one for one in found if len(one) <= MAX_ID_CHARS))


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _date(value: str, problems: list[str]) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.append("unreadable Date header")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bodies(msg: Message, problems: list[str]) -> tuple[str, str | None]:
    """First inline text/plain and text/html outside attached messages."""
    plain: str | None = None
    html: str | None = None
    for part in _inline_parts(msg, problems):
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _decoded_text(part, problems)
        elif kind == "text/html" and html is None:
            html = _decoded_text(part, problems)
    if plain is not None and plain.strip():
        return plain, html
    return (html_to_text(html) if html else (plain or "")), html


def _inline_parts(msg: Message, problems: list[str]) -> list[Message]:
    """Leaf parts in document order, without attachments or attached messages; depth-capped."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack and len(leaves) < MAX_PARTS:
        part, depth = stack.pop()
        if part.is_multipart():
            if depth >= MAX_PART_DEPTH:
                problems.append(f"MIME nesting deeper than {MAX_PART_DEPTH} ignored")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))
        elif part.get_content_maintype() == "text" and not _is_attachment(part):
            leaves.append(part)
    return leaves


def _is_attachment(part: Message) -> bool:
    try:
        return (part.get_content_disposition() or "") == "attachment"
    except Exception:  # a malformed Content-Disposition is treated as inline
        return False


def _decoded_text(part: Message, problems: list[str]) -> str:
    """Payload as str: declared charset, else UTF-8, with replacement characters on damage."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):      # None for a multipart (malformed) part
        body = part.get_payload()
        payload = body.encode("utf-8", "replace") if isinstance(body, str) else b""
    if part.defects:
        problems.append("damaged transfer encoding: " + ", ".join(type(d).__name__ for d in part.defects[:3]))
    charset = _charset(part)
    try:
        return payload.decode(charset)
    except UnicodeDecodeError:
        pass
    except (LookupError, ValueError):
        problems.append(f"unknown charset {charset[:40]!r}, read as UTF-8")
        charset = "utf-8"
    problems.append(f"undecodable body in {charset}, replacement characters used")
    return payload.decode(charset, errors="replace")


def _charset(part: Message) -> str:
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        return "utf-8"
    # us-ascii is routinely mislabelled 8-bit mail; utf-8 is a strict superset.
    return "utf-8" if charset in ("us-ascii", "ascii") else charset
