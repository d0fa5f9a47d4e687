"""The CRM changes an assignment makes: the owner field, and a follow-up task due by the SLA.

Keys are stable for (contact, owner, occasion): evaluating the same situation again yields
the same keys, so the outbox performs the write and creates the task once. The occasion is
the trigger state (the score tier, see engine.occasion_of); `due_at` is not part of the key,
so a later evaluation with a later `now` still maps to the task already recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.assignment.roster import current_owner, owner_label
from threadline.rules.assignment.state import Assignment
from threadline.rules.business_hours import add_business_hours
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, Effect, SetFields, effect_key

# HubSpot and Salesforce spell the same contact properties differently.
_FIELD_NAMES = {
    "email": ("email", "Email"),
    "first_name": ("firstname", "FirstName", "first_name"),
    "last_name": ("lastname", "LastName", "last_name"),
    "company": ("company", "Company", "Account.Name"),
}


def assignment_effects(contact: ContactFacts, assignment: Assignment, settings: AssignmentSettings,
                       now: datetime, reply_summary: str | None) -> list[Effect]:
    """SetFields(owner_field -> owner) and CreateTask(for the owner, due `sla.hours` business hours after `now`)."""
    rule = f"assignment:{assignment.rule}"
    previous = current_owner(contact, settings)
    owner = SetFields(
        key=effect_key("set_fields", contact.id, "owner", assignment.owner_id, assignment.occasion),
        contact_id=contact.id, rule=rule, reason=assignment.reason,
        fields={settings.owner_field: assignment.owner_id}, previous={settings.owner_field: previous},
    )
    task = follow_up_task(contact, assignment.owner_id, assignment.rule, assignment.reason, settings, now,
                          reply_summary, key=effect_key("create_task", contact.id, "follow-up",
                                                        assignment.owner_id, assignment.occasion))
    return [owner, task]


def follow_up_task(contact: ContactFacts, owner_id: str, rule: str, reason: str, settings: AssignmentSettings,
                   now: datetime, reply_summary: str | None, *, key: str) -> CreateTask:
    """The owner's follow-up task: subject from the SLA template, body = reason + latest reply, SLA due time."""
    body = reason if not reply_summary else f"{reason}\n\nLatest reply:\n{reply_summary}"
    return CreateTask(
        key=key, contact_id=contact.id, rule=f"assignment:{rule}", reason=reason, owner_id=owner_id,
        subject=task_subject(contact, owner_id, rule, settings), body=body,
        due_at=add_business_hours(now, settings.sla.hours, settings.sla.calendar), priority=settings.sla.priority,
    )


def task_subject(contact: ContactFacts, owner_id: str, rule: str, settings: AssignmentSettings) -> str:
    """The SLA subject template filled with the contact's name, email, company, domain, owner and rule."""
    return settings.sla.task_subject.format_map(subject_values(contact, owner_id, rule, settings))


def subject_values(contact: ContactFacts, owner_id: str, rule: str, settings: AssignmentSettings) -> dict[str, str]:
    values = {placeholder: _text(contact, names) for placeholder, names in _FIELD_NAMES.items()}
    full_name = " ".join(part for part in (values["first_name"], values["last_name"]) if part)
    values["name"] = full_name or values["email"] or contact.id
    values["domain"] = contact.domain or ""
    values["owner"] = owner_label(owner_id, settings)
    values["rule"] = rule
    return values


def _text(contact: ContactFacts, names: tuple[str, ...]) -> str:
    for name in names:
        value: Any = contact.fields.get(name)
        if value not in (None, ""):
            return str(value).strip()
    return ""
