"""Gmail's threading rule: a message joins the thread of a message it references
(In-Reply-To / References) when their subjects match after stripping reply prefixes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Envelope:
    """The headers threading needs, extracted once per message."""

    message_id: str | None
    references: tuple[str, ...]             # In-Reply-To first, then References newest-first
    subject: str


def base_subject(subject: str) -> str:
    return " ".join(_PREFIX.sub("", subject or "").split()).lower()


def envelope(msg: Message) -> Envelope:
    found = _MESSAGE_ID.findall(str(msg.get("Message-ID", "")))
    refs = _MESSAGE_ID.findall(str(msg.get("In-Reply-To", "")))
    refs += list(reversed(_MESSAGE_ID.findall(str(msg.get("References", "")))))
    return Envelope(found[0] if found else None, tuple(refs), str(msg.get("Subject", "")))


def thread_of(env: Envelope, lookup: Callable[[str], tuple[str, str] | None]) -> str | None:
    """The thread id to join, or None for a new thread.

    `lookup(message_id)` gives (thread_id, subject) of a message already in the mailbox.
    """
    wanted = base_subject(env.subject)
    for ref in env.references:
        found = lookup(ref)
        if found is not None and base_subject(found[1]) == wanted:
            return found[0]
    return None
