"""Events: everything the engine observes, as typed records with a time, a source and a stable id.

The id is deterministic (derived from what the event is about), so ingesting the same
event twice stores it once and replaying events changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Event types the engine emits itself. Custom types (posted to /events) are any other dotted name.
BUILTIN_TYPES = frozenset({
    "contact.created",      # data: {}
    "contact.updated",      # data: {"field": name, "old": value, "new": value}  (one event per changed field)
    "owner.changed",        # data: {"old": owner id, "new": owner id}
    "reply.received",       # data: {"subject", "text", "message_id", "mailbox"}
    "auto_reply.received",  # data: {"subject", "return_date": "YYYY-MM-DD" | None, "mailbox"}
    "bounce.received",      # data: {"recipients": [...], "mailbox"}
    "email.sent",           # data: {"subject", "message_id", "mailbox"}   (outgoing mail to the contact)
    "unsubscribed",         # data: {"channel": "email", "via": "list-unsubscribe" | "crm" | ...}
    "meeting.booked",       # data: {"meeting_id", "starts_at"} from the CRM; from a mailbox (an accepted iMIP reply
                            # or the prospect's invitation): {"uid", "starts_at", "response", "method", ...}
    "meeting.tentative",    # data as a mailbox meeting.booked: the prospect answered "maybe" (PARTSTAT=TENTATIVE)
    "meeting.declined",     # data as a mailbox meeting.booked: the prospect declined (PARTSTAT=DECLINED)
    "meeting.cancelled",    # data as a mailbox meeting.booked: the prospect cancelled a meeting they organized
    "task.completed",       # data: {"task_id", "subject"}
})


class Event(BaseModel):
    """One thing that happened to a contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
    contact_id: str
    occurred_at: datetime
    source: str                               # "crm", "mailbox:<address>", "api", "replay"
    data: Mapping[str, Any] = Field(default_factory=dict)


def event_id(type_: str, *identity: str) -> str:
    """A stable id from the event type and whatever identifies the occurrence (message key, field + stamp)."""
    return "ev-" + hashlib.sha256("\x1f".join((type_, *identity)).encode()).hexdigest()[:32]
