"""DueStep (a step whose time has come) and the template context its subject and body are rendered with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import effect_key

#: Top-level names a step template may use.
TEMPLATE_TOKENS = frozenset({"contact", "owner", "company", "unsubscribe_url", "sequence", "step"})


@dataclass(frozen=True)
class DueStep:
    """The next step of one enrollment, ready to hand to the outbox. ``key`` is stable for (sequence,
    contact, generation, step) however often the scheduler re-evaluates, and differs per generation."""

    sequence: str
    contact_id: str
    step_index: int
    kind: str                  # "email" | "task"
    due_at: datetime
    key: str
    subject: str
    body: str
    thread_reply: bool
    task_type: str | None = None
    generation: int = 1
    variant: str | None = None          # the A/B variant it runs (None: the step has no test)
    next_step: int | None = None        # the step after it (None: it is the last of this enrolment's path)


def step_key(sequence: str, contact_id: str, generation: int, step_index: int) -> str:
    """The idempotency key of one step of one enrollment (the outbox's exactly-once key for its send)."""
    return effect_key("sequence_step", contact_id, sequence, str(generation), str(step_index))


def template_context(contact: ContactFacts, owner: Mapping[str, Any] | None, sequence: str, step_index: int,
                     unsubscribe_url: str | None) -> dict[str, Any]:
    """What templates see: ``contact`` (CRM fields plus id, domain), ``owner`` (e.g. name, email),
    ``company`` (the contact's company field, else its domain), ``unsubscribe_url``, ``sequence`` and
    ``step`` (1-based). A missing ``owner``/``unsubscribe_url`` is left out, so using it is an error."""
    fields = {**contact.fields, "id": contact.id, "domain": contact.domain}
    context: dict[str, Any] = {
        "contact": fields, "company": fields.get("company") or contact.domain or "",
        "sequence": sequence, "step": step_index + 1,
    }
    if owner is not None:
        context["owner"] = dict(owner)
    if unsubscribe_url is not None:
        context["unsubscribe_url"] = unsubscribe_url
    return context
