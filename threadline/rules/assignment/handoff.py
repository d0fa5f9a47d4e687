"""Handoff metrics (`threadline report`), part 1: one handoff per contact: when it became an MQL, when an owner
was assigned, and that owner's first touch. sla_outcome.py gives each follow-up task's SLA outcome, wait_stats.py
the medians and 90th percentiles per owner and overall; all three are pure functions over what the rule layer
recorded (audit writes) and what was observed (events).

Definitions (the README's report section says the same):

- assigned_at: the contact's latest owner write by an assignment rule (`assignment:<rule>` writing the owner
  field): the first assignment, or the reassignment after an SLA breach, so the owner is the one holding the
  contact now. Reassigned-away owners still show in the SLA counts (sla_outcome.py).
- mql_at: the last scoring write that moved the contact into a tier the assignment trigger names
  (`rules.assignment.trigger`, e.g. `{score.tier: mql}`) recorded before that owner write. When the trigger
  names no tier, or no such scoring write was recorded (a tier set by hand), the condition was met when the
  assignment was written: mql_at = assigned_at.
- first_touch_at: the earliest of an `email.sent` event for the contact from a mailbox of the owner at or after
  assigned_at (sequence steps excluded: they go out by themselves), and the owner's follow-up task completed
  (`task.completed` for the task's key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.assignment.engine import NAMESPACES
from threadline.rules.conditions import parse_conditions
from threadline.rules.effects import is_escalation
from threadline.sync.events.records import Event

TOUCH_EVENTS = ("email.sent", "task.completed")


@dataclass(frozen=True)
class RuleWrite:
    """One write the rule layer recorded (an audit row), in recording order; `effect` is the effect as recorded
    (`fields` of a set_fields; `owner_id`, `subject`, `due_at` of a create_task)."""

    at: datetime
    rule: str
    contact_id: str
    kind: str
    key: str
    effect: Mapping[str, Any]

    @property
    def by_assignment(self) -> bool:
        return self.rule.startswith("assignment:")

    def field(self, name: str) -> str | None:
        value = self.effect.get("fields", {}).get(name) if self.kind == "set_fields" else None
        return None if value is None else str(value)

    @property
    def is_follow_up(self) -> bool:
        """A follow-up task from an assignment (first or after a reassignment), not an escalation."""
        return (self.by_assignment and self.kind == "create_task"
                and not is_escalation(self.effect.get("subject")))


@dataclass(frozen=True)
class HandoffRules:
    """What the timeline needs from the config: the owner field, the scoring's tier field (None without scoring),
    which tier values meet the trigger (None: the trigger names no tier), and each mailbox's owner."""

    owner_field: str
    tier_field: str | None
    is_trigger_tier: Callable[[str], bool] | None
    mailbox_owners: Mapping[str, str]

    @classmethod
    def from_settings(cls, assignment: AssignmentSettings, tier_field: str | None,
                      mailbox_owners: Mapping[str, str]) -> HandoffRules:
        return cls(assignment.owner_field, tier_field, trigger_tier_test(assignment.trigger),
                   {address.lower(): owner for address, owner in mailbox_owners.items()})


def trigger_tier_test(trigger: Mapping[str, Any]) -> Callable[[str], bool] | None:
    """Whether a tier value meets the trigger's `score.tier` tests (any operator); None when it has none."""
    tests, _ = parse_conditions(trigger, "rules.assignment.trigger", None, namespaces=NAMESPACES)
    tier_tests = [test for test in tests if test.name == "score.tier"]
    if not tier_tests:
        return None
    return lambda tier: all(test.check(tier) for test in tier_tests)


@dataclass(frozen=True)
class Handoff:
    """A contact handed to an owner; `first_touch_at` None means the owner has not touched it yet (waiting)."""

    contact_id: str
    owner_id: str
    mql_at: datetime
    assigned_at: datetime
    task_key: str | None = None
    first_touch_at: datetime | None = None

    @property
    def mql_to_assigned(self) -> timedelta:
        return max(self.assigned_at - self.mql_at, timedelta(0))

    @property
    def assigned_to_touch(self) -> timedelta | None:
        return None if self.first_touch_at is None else max(self.first_touch_at - self.assigned_at, timedelta(0))

    @property
    def mql_to_touch(self) -> timedelta | None:
        return None if self.first_touch_at is None else max(self.first_touch_at - self.mql_at, timedelta(0))


def contact_handoffs(writes: Sequence[RuleWrite], events: Iterable[Event], rules: HandoffRules) -> list[Handoff]:
    """The handoff of every contact an assignment gave an owner, by contact id. `writes` in recording order;
    `events` may hold any types (only email.sent and task.completed are read)."""
    handoffs = _assignments(writes, rules)
    touches = _touches(events, rules.mailbox_owners)
    return [_with_touch(handoffs[contact], touches.get(contact, [])) for contact in sorted(handoffs)]


def _assignments(writes: Sequence[RuleWrite], rules: HandoffRules) -> dict[str, Handoff]:
    entered: dict[str, datetime] = {}       # contact -> when the scoring last moved it into a trigger tier
    tiers: dict[str, str] = {}
    handoffs: dict[str, Handoff] = {}
    for write in writes:
        tier = write.field(rules.tier_field) if rules.tier_field and write.rule == "scoring" else None
        if tier is not None and rules.is_trigger_tier is not None:
            before = tiers.get(write.contact_id)
            if rules.is_trigger_tier(tier) and (before is None or not rules.is_trigger_tier(before)):
                entered[write.contact_id] = write.at
            tiers[write.contact_id] = tier
        owner = write.field(rules.owner_field) if write.by_assignment else None
        if owner:
            mql = entered.get(write.contact_id, write.at)
            handoffs[write.contact_id] = Handoff(write.contact_id, owner, min(mql, write.at), write.at)
        current = handoffs.get(write.contact_id)
        if write.is_follow_up and current is not None and current.task_key is None \
                and write.effect.get("owner_id") == current.owner_id:
            handoffs[write.contact_id] = replace(current, task_key=write.key)
    return handoffs


@dataclass(frozen=True)
class _Touch:
    at: datetime
    owner_id: str | None          # whose mailbox sent it (None: a completed task, the owner's own)
    task_key: str | None


def _touches(events: Iterable[Event], mailbox_owners: Mapping[str, str]) -> dict[str, list[_Touch]]:
    found: dict[str, list[_Touch]] = {}
    for event in events:
        if event.type == "task.completed" and event.data.get("key"):
            touch = _Touch(event.occurred_at, None, str(event.data["key"]))
        elif event.type == "email.sent" and "sequence" not in event.data:
            mailbox = str(event.data.get("mailbox") or event.source.removeprefix("mailbox:")).lower()
            touch = _Touch(event.occurred_at, mailbox_owners.get(mailbox), None)
        else:
            continue
        found.setdefault(event.contact_id, []).append(touch)
    return found


def _with_touch(handoff: Handoff, touches: list[_Touch]) -> Handoff:
    times = [t.at for t in touches
             if (t.task_key is not None and t.task_key == handoff.task_key)
             or (t.owner_id == handoff.owner_id and t.at >= handoff.assigned_at)]
    return replace(handoff, first_touch_at=min(times)) if times else handoff
