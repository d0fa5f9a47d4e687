"""Assignment decisions: trigger, ownership check, sticky domain, first matching routing rule, strategy.

`Assigner.decide` is pure: it reads the contact, its score and an AssignmentState and
returns an Assignment (with the state change it implies) or a NoAssignment saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.rules.assignment.config import AssignmentSettings, Rep, RoutingRule
from threadline.rules.assignment.roster import current_owner, owner_label, rule_reps
from threadline.rules.assignment.state import Assignment, AssignmentState, NoAssignment, StateChange
from threadline.rules.assignment.strategies import STRATEGIES, Pick, is_available
from threadline.rules.assignment.validation import PATH, STICKY, settings_problems, settings_warnings
from threadline.rules.conditions import Predicate, RuleError, all_of, parse_conditions
from threadline.rules.contact_facts import ContactFacts

__all__ = ["Assigner", "Assignment", "AssignmentState", "NoAssignment", "StateChange", "compile_assignment",
           "condition_values"]

#: Assignment conditions read contact fields and scores (there is no single event to read).
NAMESPACES = frozenset({"contact", "score"})
_STRATEGY_WORDS = {"round_robin": "round robin", "weighted": "weighted", "least_load": "least load"}


@dataclass(frozen=True)
class CompiledRule:
    rule: RoutingRule
    matches: Predicate
    reps: tuple[Rep, ...]


def compile_assignment(settings: AssignmentSettings, known_fields: set[str] | None = None) -> Assigner:
    """Validate and compile `rules.assignment`.

    Raises RuleError listing every problem with its key path: bad conditions (unknown
    operator or field), unknown reps or teams in rules, duplicate rep ids or rule names,
    unknown task-subject placeholders, escalate without escalate_to. A rule whose every
    rep is away is valid (away changes daily) and reported in `Assigner.warnings`.
    """
    problems: list[str] = []
    trigger_tests, found = parse_conditions(settings.trigger, f"{PATH}.trigger", known_fields, namespaces=NAMESPACES)
    problems += found
    rules = []
    for index, rule in enumerate(settings.rules):
        tests, found = parse_conditions(rule.when, f"{PATH}.rules[{index}].when", known_fields, namespaces=NAMESPACES)
        problems += found
        rules.append(CompiledRule(rule, all_of(tests), tuple(rule_reps(rule, settings))))
    problems += settings_problems(settings)
    if problems:
        raise RuleError(problems)
    return Assigner(settings, all_of(trigger_tests), tuple(rules), settings_warnings(settings))


def condition_values(contact: ContactFacts, score: Mapping[str, Any]) -> dict[str, Any]:
    """The flat namespace conditions read: contact.* from the facts, score.* from `score` (keys bare or prefixed)."""
    values = contact.flat()
    for name, value in score.items():
        values[name if name.startswith("score.") else f"score.{name}"] = value
    return values


def occasion_of(score: Mapping[str, Any]) -> str:
    """What made the contact assignable, for effect keys: its score tier when scored, else one fixed occasion."""
    tier = score.get("tier", score.get("score.tier"))
    return f"tier={tier}" if tier not in (None, "") else "assignable"


class Assigner:
    """Compiled assignment settings. Build with compile_assignment()."""

    def __init__(self, settings: AssignmentSettings, trigger: Predicate, rules: tuple[CompiledRule, ...],
                 warnings: list[str]) -> None:
        self.settings = settings
        self.warnings = warnings
        self._trigger = trigger
        self._rules = rules

    def assign(self, contact: ContactFacts, score: Mapping[str, Any], state: AssignmentState,
               now: datetime) -> Assignment | None:
        """The assignment for this contact, or None when it is not assignable (see `decide` for why)."""
        decision = self.decide(contact, score, state, now)
        return decision if isinstance(decision, Assignment) else None

    def decide(self, contact: ContactFacts, score: Mapping[str, Any], state: AssignmentState,
               now: datetime) -> Assignment | NoAssignment:
        """Decide without side effects; `state` is read, never changed.

        Order: already owned (when only_unowned) -> trigger -> sticky domain owner ->
        first matching routing rule (no fall-through: if its reps are all away or at
        capacity the contact waits, with that reason). With only_unowned off, call this
        only when the trigger newly holds, or each call would rotate the owner again.
        """
        owner = current_owner(contact, self.settings)
        if self.settings.only_unowned and owner is not None:
            return NoAssignment(contact.id, f"already owned by {owner_label(owner, self.settings)}")
        values = condition_values(contact, score)
        if not self._trigger(values):
            return NoAssignment(contact.id, "trigger not met")
        occasion = occasion_of(score)
        sticky = self._sticky_rep(contact, state)
        if sticky is not None:
            reason = f"sticky: {contact.domain} is owned by {sticky.label}"
            return self._assignment(contact, (sticky, StateChange()), STICKY, STICKY, reason, occasion, state)
        for compiled in self._rules:
            if compiled.matches(values):
                return self._route(contact, compiled, occasion, state)
        return NoAssignment(contact.id, "no routing rule matches")

    def _sticky_rep(self, contact: ContactFacts, state: AssignmentState) -> Rep | None:
        """The domain's owner when sticky ownership applies and that owner is a configured, available rep."""
        if not self.settings.sticky_by_domain or contact.domain is None:
            return None
        owner_id = state.domain_owner.get(contact.domain)
        rep = self.settings.rep(owner_id) if owner_id else None
        return rep if rep is not None and is_available(rep, state) else None

    def _route(self, contact: ContactFacts, compiled: CompiledRule, occasion: str,
               state: AssignmentState) -> Assignment | NoAssignment:
        rule = compiled.rule
        pick = STRATEGIES[rule.strategy](rule.name, compiled.reps, state, ())
        if pick is None:
            return NoAssignment(contact.id, f"rule {rule.name}: every rep is away or at capacity", rule.name)
        reason = f"rule {rule.name} ({_STRATEGY_WORDS[rule.strategy]}) -> {pick[0].label}"
        return self._assignment(contact, pick, rule.name, rule.strategy, reason, occasion, state)

    def _assignment(self, contact: ContactFacts, pick: Pick, rule: str, strategy: str, reason: str,
                    occasion: str, state: AssignmentState) -> Assignment:
        rep, rotation = pick
        bookkeeping = StateChange(open_load={rep.owner_id: state.open_load.get(rep.owner_id, 0) + 1})
        if self.settings.sticky_by_domain and contact.domain and contact.domain not in state.domain_owner:
            bookkeeping = bookkeeping.merged(StateChange(domain_owner={contact.domain: rep.owner_id}))
        return Assignment(contact.id, rep.owner_id, rule, strategy, reason, occasion,
                          rotation.merged(bookkeeping), state)
