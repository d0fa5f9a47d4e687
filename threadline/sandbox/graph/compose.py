"""Messages the mailbox owner sends (sendMail, reply) rendered as RFC 822, the way Exchange would."""

from __future__ import annotations

import secrets
from datetime import datetime
from email.utils import format_datetime, formataddr
from typing import Any

from threadline.sandbox.graph.errors import bad_request
from threadline.sandbox.graph.mailbox import StoredMessage


def _addresses(recipients: list[dict[str, Any]] | None) -> list[str]:
    out = []
    for item in recipients or []:
        address = (item.get("emailAddress") or {}).get("address")
        if not address:
            raise bad_request("At least one recipient is not valid., Recipient is missing an email address.",
                              "ErrorInvalidRecipients")
        out.append(formataddr(((item.get("emailAddress") or {}).get("name") or "", address)))
    return out


def compose(sender: str, message: dict[str, Any], now: datetime, *, in_reply_to: StoredMessage | None = None,
            comment: str | None = None) -> bytes:
    """RFC 822 bytes for a Graph `message` payload sent by `sender` (a reply when `in_reply_to` is given)."""
    to = _addresses(message.get("toRecipients"))
    if in_reply_to is not None and not to and in_reply_to.envelope.sender:
        to = [formataddr(in_reply_to.envelope.sender)]
    if not to:
        raise bad_request("At least one recipient is required, but none were found.", "ErrorInvalidRecipients")
    domain = sender.split("@")[-1].replace(".", "")
    message_id = message.get("internetMessageId") or f"<{secrets.token_hex(12)}@{domain}.prod.outlook.com>"
    subject = message.get("subject")
    if in_reply_to is not None and subject is None:
        subject = f"RE: {in_reply_to.envelope.subject}"
    headers = [("From", sender), ("To", ", ".join(to))]
    if message.get("ccRecipients"):
        headers.append(("Cc", ", ".join(_addresses(message["ccRecipients"]))))
    headers += [("Subject", subject or ""), ("Date", format_datetime(now)), ("Message-ID", message_id)]
    if in_reply_to is not None and in_reply_to.envelope.internet_message_id:
        parent = in_reply_to.envelope.internet_message_id
        refs = " ".join([*reversed(in_reply_to.envelope.references[1:]), parent]) if in_reply_to.envelope.references \
            else parent
        headers += [("In-Reply-To", parent), ("References", refs)]
    for custom in message.get("internetMessageHeaders") or []:
        if not str(custom.get("name", "")).lower().startswith("x-"):
            raise bad_request("The internet message header name should start with 'x-' or 'X-'.",
                              "InvalidInternetMessageHeader")
        headers.append((custom["name"], str(custom.get("value", ""))))
    body = message.get("body") or {}
    text = comment if comment is not None else str(body.get("content", ""))
    kind = "html" if str(body.get("contentType", "text")).lower() == "html" else "plain"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (f"{head}MIME-Version: 1.0\r\nContent-Type: text/{kind}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n").encode()
