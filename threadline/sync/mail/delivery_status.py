"""Read delivery status notifications (RFC 3464 multipart/report; report-type=delivery-status)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from threadline.sync.mail.mime_headers import header_text

MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    final_recipient: str        # lower-cased address, address-type prefix ("rfc822;") removed
    action: str                 # failed | delayed | delivered | relayed | expanded (lower-case)
    status: str                 # enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""        # Diagnostic-Code as written by the remote MTA


@dataclass(frozen=True)
class DeliveryReport:
    is_delivery_report: bool = False
    recipients: tuple[RecipientStatus, ...] = ()
    original_message_id: str | None = None


def read_delivery_report(msg: Message, problems: list[str]) -> DeliveryReport:
    """The DSN fields of `msg`, or an empty report when it is not a delivery-status report."""
    if msg.get_content_type() != "multipart/report":
        return DeliveryReport()
    # get_param may answer an RFC 2231 (charset, language, value) tuple; collapse gives the str either way.
    if collapse_rfc2231_value(msg.get_param("report-type") or "").lower() != "delivery-status":
        return DeliveryReport()
    recipients: list[RecipientStatus] = []
    original_id = None
    parts = msg.get_payload()
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            recipients.extend(_recipient_blocks(part, problems))
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"):
            original_id = _original_message_id(part)
    return DeliveryReport(True, tuple(recipients[:MAX_RECIPIENTS]), original_id)


def _recipient_blocks(part: Message, problems: list[str]) -> list[RecipientStatus]:
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        problems.append("delivery-status part without field blocks")
        return []
    found = []
    for block in blocks:
        if not isinstance(block, Message):
            continue
        recipient = header_text(block, "final-recipient") or header_text(block, "original-recipient")
        if not recipient:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        found.append(RecipientStatus(
            final_recipient=_address(recipient),
            action=header_text(block, "action").strip().lower(),
            status=header_text(block, "status").strip().split(" ")[0],
            diagnostic=" ".join(header_text(block, "diagnostic-code").split()),
        ))
    return found


def _address(value: str) -> str:
    """'rfc822; Bob@Example.com' -> 'bob@example.com'."""
    address = value.split(";", 1)[-1]
    return address.strip().strip("<>").lower()


def _original_message_id(part: Message) -> str | None:
    if part.get_content_type().startswith("message/"):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return header_text(inner[0], "message-id") or None
        return None
    from email import message_from_string

    raw = part.get_payload(decode=True)
    headers = raw if isinstance(raw, bytes) else b""
    return header_text(message_from_string(headers.decode("utf-8", "replace")), "message-id") or None
