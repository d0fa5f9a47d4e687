"""What a Gmail handler receives: the call, the authenticated user's mailbox, path arguments."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from threadline.sandbox.faults import Faults
from threadline.sandbox.gmail.calls import ApiCall
from threadline.sandbox.gmail.errors import invalid
from threadline.sandbox.gmail.mailbox import Mailbox


@dataclass
class Invocation:
    call: ApiCall
    mailbox: Mailbox
    args: dict[str, str]
    faults: Faults
    route: str


def page_token(*parts: object) -> str:
    """An opaque page token (Gmail's are opaque too)."""
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def read_page_token(token: str, fields: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
    except ValueError as exc:
        raise invalid("Invalid pageToken") from exc
    if len(parts) != fields:
        raise invalid("Invalid pageToken")
    return parts
