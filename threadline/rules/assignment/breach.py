"""SLA breach: a follow-up task still open after its due time is reassigned or escalated, once per breach.

A breach is identified by the contact, the breached task's due time and the owner it was
assigned to; every effect key derives from that, never from who is picked next, so
re-evaluating a breach (even after load or rotation changed) cannot act twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.assignment.effects import follow_up_task, subject_values
from threadline.rules.assignment.roster import current_owner, owner_label, rule_reps
from threadline.rules.assignment.state import AssignmentState
from threadline.rules.assignment.strategies import STRATEGIES, Pick
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import ESCALATION_PREFIX, CreateTask, Effect, SetFields, effect_key

# (effect kind, occasion) of each write a breach makes; with the breach identity they give the effect keys.
_REASSIGN_OWNER = ("set_fields", "breach-reassign")
_REASSIGN_TASK = ("create_task", "breach-reassign")
_ESCALATE = ("create_task", "breach-escalate")


def breach_effects(contact: ContactFacts, task_due_at: datetime, task_open: bool, assignment_rule: str,
                   settings: AssignmentSettings, state: AssignmentState, now: datetime) -> list[Effect]:
    """Effects for an overdue open follow-up task (none if closed, not yet due, or on_breach.action is none).

    reassign: the next available rep of `assignment_rule` other than the current owner (by
    the rule's strategy; sticky or since-removed rules use least load over all reps) gets
    the contact and a new follow-up task; with nobody available it escalates if
    `escalate_to` is set. escalate: a HIGH task for `escalate_to`; the owner stays.
    """
    action = settings.on_breach.action
    if not task_open or now <= task_due_at or action == "none":
        return []
    breach = _breach_identity(contact, task_due_at, settings)
    if action == "reassign":
        pick = _next_candidate(contact, assignment_rule, settings, state)
        if pick is not None:
            return _reassignment(contact, pick[0].owner_id, assignment_rule, task_due_at, breach, settings, now)
    if settings.on_breach.escalate_to:
        return [_escalation(contact, assignment_rule, task_due_at, breach, settings, now)]
    return []


def breach_keys(contact_id: str, task_due_at: datetime, owner_id: str | None) -> frozenset[str]:
    """The keys of the effects a breach of this follow-up task records (reassign: the owner write and the new
    owner's task; escalate: the escalation task), given the owner the contact had then. A report tells a
    recorded breach by them without re-deciding it."""
    breach = _identity(task_due_at, owner_id)
    return frozenset(_key(write, contact_id, breach) for write in (_REASSIGN_OWNER, _REASSIGN_TASK, _ESCALATE))


def _key(write: tuple[str, str], contact_id: str, breach: tuple[str, str]) -> str:
    return effect_key(write[0], contact_id, write[1], *breach)


def _breach_identity(contact: ContactFacts, task_due_at: datetime, settings: AssignmentSettings) -> tuple[str, str]:
    return _identity(task_due_at, current_owner(contact, settings))


def _identity(task_due_at: datetime, owner_id: str | None) -> tuple[str, str]:
    return task_due_at.astimezone(UTC).isoformat(), owner_id or ""


def _next_candidate(contact: ContactFacts, assignment_rule: str, settings: AssignmentSettings,
                    state: AssignmentState) -> Pick | None:
    exclude = {current_owner(contact, settings) or ""}
    rule = next((rule for rule in settings.rules if rule.name == assignment_rule), None)
    if rule is None:
        return STRATEGIES["least_load"](assignment_rule, settings.reps, state, exclude)
    return STRATEGIES[rule.strategy](rule.name, rule_reps(rule, settings), state, exclude)


def _reassignment(contact: ContactFacts, new_owner: str, assignment_rule: str, task_due_at: datetime,
                  breach: tuple[str, str], settings: AssignmentSettings, now: datetime) -> list[Effect]:
    old_owner = breach[1] or None
    reason = (f"SLA breach: follow-up due {task_due_at.isoformat()} still open; "
              f"reassigned from {owner_label(old_owner, settings)} to {owner_label(new_owner, settings)}")
    owner = SetFields(
        key=_key(_REASSIGN_OWNER, contact.id, breach),
        contact_id=contact.id, rule=f"assignment:{assignment_rule}", reason=reason,
        fields={settings.owner_field: new_owner}, previous={settings.owner_field: old_owner},
    )
    task = follow_up_task(contact, new_owner, assignment_rule, reason, settings, now, None,
                          key=_key(_REASSIGN_TASK, contact.id, breach))
    return [owner, task]


def _escalation(contact: ContactFacts, assignment_rule: str, task_due_at: datetime, breach: tuple[str, str],
                settings: AssignmentSettings, now: datetime) -> CreateTask:
    escalate_to = settings.on_breach.escalate_to or ""
    owner = owner_label(breach[1] or None, settings)
    name = subject_values(contact, escalate_to, assignment_rule, settings)["name"]
    reason = f"SLA breach: {owner}'s follow-up with {name} was due {task_due_at.isoformat()} and is still open"
    return CreateTask(
        key=_key(_ESCALATE, contact.id, breach),
        contact_id=contact.id, rule=f"assignment:{assignment_rule}", reason=reason, owner_id=escalate_to,
        subject=f"{ESCALATION_PREFIX}: {name}", body=reason, due_at=now, priority="HIGH",
    )
