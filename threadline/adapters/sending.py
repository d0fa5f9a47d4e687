"""Sending mail from the rep's own mailbox: the records, the protocol, and the RFC 5322 bytes.

Exactly-once rests on one rule: Threadline chooses the Message-ID *before* sending
and records it first. A send is never idempotent (a dropped connection after the
provider accepted it looks like any other failure), so before any retry the caller
asks `find_sent(message_id)` whether the mailbox's Sent folder already has it.

A sender also tells the caller the last moment before the provider may accept the
mail (`on_submit`) and how long its Sent copy may take to show (`sent_visibility`):
together they let the caller tell "not sent" from "sent, copy not visible yet".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Protocol

from pydantic import Field

from threadline.adapters.fencing import check_fence
from threadline.adapters.records import Record

#: Headers build_mime writes itself; `OutgoingEmail.headers` may not override them.
_OWN_HEADERS = {"message-id", "date", "from", "to", "subject", "in-reply-to", "references", "mime-version",
                "content-type", "content-transfer-encoding"}


class OutgoingEmail(Record):
    """One email to send. `key` is the idempotency key (enrolment + step); `message_id` is ours, with brackets."""

    key: str
    message_id: str                          # "<...@domain>", chosen and recorded before sending
    from_address: str
    from_name: str = ""
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_id: str | None = None             # Gmail threadId for a reply in thread (ignored elsewhere)
    headers: Mapping[str, str] = Field(default_factory=dict)   # List-Unsubscribe, List-Unsubscribe-Post, ...


class SentRef(Record):
    """Where a sent email ended up: our Message-ID plus the provider's id and thread where known."""

    message_id: str
    provider_id: str | None
    thread_id: str | None = None


#: Called by a sender at the last moment before the provider may accept the mail (possibly more than once:
#: once per attempt when a refusal is retried inside `send`).
OnSubmit = Callable[[], None]


def hand_over(on_submit: OnSubmit | None) -> None:
    """Right before a send's request leaves, in every sender: the send must still be this replica's (the
    fence: a replica that lost the row writes nothing into it and sends nothing), then `on_submit`."""
    check_fence()
    if on_submit is not None:
        on_submit()


class MailSender(Protocol):
    """Sends as the mailbox owner and finds its own sent mail again by Message-ID."""

    @property
    def sent_visibility(self) -> timedelta | None:
        """How long after a submission whose outcome is unknown its copy may take to show in Sent (the
        provider files it). None: the copy is filed by us after the server accepted the mail (SMTP), so a
        missing copy does not prove the mail was not sent."""
        ...

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Send once. NOT idempotent: only outright refusals (429) are retried inside.

        `on_submit` runs right before the provider may accept the mail (after connecting
        and signing in); an exception from it aborts the send with nothing handed over.
        Raises RateLimited (every attempt was refused: nothing was sent), TransientError
        (ambiguous: it may have been sent; call `find_sent` before trying again),
        AuthExpired or PermanentError.
        """
        ...

    def find_sent(self, message_id: str) -> SentRef | None:
        """The sent copy carrying `message_id` ("<...>"), or None. Safe to call any number of times."""
        ...


#: Message-IDs of sequence email start with this (``<tl-KEY@domain>``): a mailbox sync recognises its own mail.
SEQUENCE_ID_PREFIX = "<tl-"


def sequence_message_id(key: str, domain: str) -> str:
    """The deterministic Message-ID of one sequence step (a restored store still finds it in Sent)."""
    return f"{SEQUENCE_ID_PREFIX}{key}@{domain}>"


def new_message_id(domain: str) -> str:
    """A fresh, unguessable Message-ID in `domain` (the sender's), brackets included."""
    return f"<tl.{secrets.token_hex(16)}@{domain}>"


def build_mime(email: OutgoingEmail, *, now: datetime | None = None) -> bytes:
    """RFC 5322 bytes (CRLF) with our Message-ID, Date, threading headers and extra headers.

    The body is text/plain, or multipart/alternative with the html part when given.
    Raises ValueError when an extra header would override one built here.
    """
    msg = EmailMessage(policy=SMTP)
    msg["Message-ID"] = email.message_id
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["From"] = formataddr((email.from_name, email.from_address)) if email.from_name else email.from_address
    msg["To"] = ", ".join(email.to)
    msg["Subject"] = email.subject
    if email.in_reply_to:
        msg["In-Reply-To"] = email.in_reply_to
    if email.references:
        msg["References"] = " ".join(email.references)
    for name, value in email.headers.items():
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"header {name} is set by build_mime")
        msg[name] = value
    msg.set_content(email.text)
    if email.html is not None:
        msg.add_alternative(email.html, subtype="html")
    return msg.as_bytes()


def bare_message_id(message_id: str) -> str:
    """The Message-ID without angle brackets (Gmail's rfc822msgid: wants it so)."""
    return message_id.strip().removeprefix("<").removesuffix(">")
