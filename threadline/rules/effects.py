"""Effects the rule layer intends in the CRM. Every effect has a deterministic key and names its rule.

The engine turns effects into outbox rows (same transaction as the audit log), so an
effect is performed exactly once however often the rules are evaluated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Effect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["set_fields", "create_task"]
    key: str                                  # idempotency key (see effect_key)
    contact_id: str
    rule: str                                 # the rule that caused it: "scoring", "assignment:enterprise-west", ...
    reason: str                               # human sentence for audit and plan output


class SetFields(Effect):
    """Write absolute values (score, tier, lifecycle stage, owner) on a contact."""

    kind: Literal["set_fields"] = "set_fields"
    fields: Mapping[str, str]                 # CRM field name -> new value (strings, as CRMs take them)
    previous: Mapping[str, str | None] = {}   # what the mirror held, for plan/audit


class CreateTask(Effect):
    """A task for the contact's owner (follow-up with SLA due time)."""

    kind: Literal["create_task"] = "create_task"
    owner_id: str | None
    subject: str
    body: str
    due_at: datetime
    priority: Literal["LOW", "MEDIUM", "HIGH"] = "MEDIUM"


ESCALATION_PREFIX = "SLA breached"     # an escalation task's subject starts so; it is not a follow-up itself


def is_escalation(subject: object) -> bool:
    """Whether a task subject is an escalation's (escalations are not subject to the SLA themselves)."""
    return str(subject or "").startswith(ESCALATION_PREFIX)


def effect_key(kind: str, contact_id: str, *identity: str) -> str:
    """Deterministic key: the same intent (same contact, same values or same trigger) gets the same key."""
    return f"{kind[:2]}-" + hashlib.sha256("\x1f".join((kind, contact_id, *identity)).encode()).hexdigest()[:40]
