"""Checks on `rules.assignment` beyond its schema, each problem as "key.path: what was expected"."""

from __future__ import annotations

import string
from collections import Counter

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.assignment.roster import rule_reps
from threadline.rules.conditions import did_you_mean

PATH = "rules.assignment"
#: Placeholders a task subject may use (see assignment_effects).
SUBJECT_FIELDS = frozenset({"name", "email", "first_name", "last_name", "company", "domain", "owner", "rule"})
#: Rule name used for sticky-by-domain assignments; a routing rule may not take it.
STICKY = "sticky"


def settings_problems(settings: AssignmentSettings) -> list[str]:
    """Every problem outside the conditions: duplicates, unknown reps and teams, SLA template, breach policy."""
    return (_duplicates(settings) + _rule_members(settings) + _subject(settings.sla.task_subject)
            + _breach(settings))


def settings_warnings(settings: AssignmentSettings) -> list[str]:
    """Valid but worth telling the admin: rules whose every rep is away (they assign nobody until someone is back).

    Away is operational state that changes daily, so it warns rather than failing the load.
    """
    warnings = []
    for index, rule in enumerate(settings.rules):
        reps = rule_reps(rule, settings)
        if reps and all(rep.away for rep in reps):
            warnings.append(f"{PATH}.rules[{index}] ({rule.name}): every rep is away; matching contacts stay unassigned")
    return warnings


def _duplicates(settings: AssignmentSettings) -> list[str]:
    problems = []
    owner_ids = Counter(rep.owner_id for rep in settings.reps)
    for index, rep in enumerate(settings.reps):
        if owner_ids[rep.owner_id] > 1:
            problems.append(f"{PATH}.reps[{index}].owner_id: '{rep.owner_id}' is listed more than once")
    names = Counter(rule.name for rule in settings.rules)
    for index, rule in enumerate(settings.rules):
        if names[rule.name] > 1:
            problems.append(f"{PATH}.rules[{index}].name: '{rule.name}' is used by more than one rule "
                            "(rotation state is kept per rule name)")
        if rule.name == STICKY:
            problems.append(f"{PATH}.rules[{index}].name: '{STICKY}' is reserved for sticky-by-domain assignments")
    return problems


def _rule_members(settings: AssignmentSettings) -> list[str]:
    problems = []
    known = {rep.owner_id for rep in settings.reps}
    teams = {team for rep in settings.reps for team in rep.teams}
    for index, rule in enumerate(settings.rules):
        where = f"{PATH}.rules[{index}]"
        for position, owner_id in enumerate(rule.reps or []):
            if owner_id not in known:
                problems.append(f"{where}.reps[{position}]: unknown rep '{owner_id}'{did_you_mean(owner_id, known)}")
        if rule.reps == []:
            problems.append(f"{where}.reps: needs at least one rep")
        if rule.team is not None and rule.team not in teams:
            problems.append(f"{where}.team: no rep is in team '{rule.team}'{did_you_mean(rule.team, teams)}")
    return problems


def _subject(template: str) -> list[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return [f"{PATH}.sla.task_subject: {exc}"]
    unknown = sorted(names - SUBJECT_FIELDS)
    if unknown:
        return [f"{PATH}.sla.task_subject: unknown placeholder {{{unknown[0]}}} "
                f"(known: {', '.join('{' + name + '}' for name in sorted(SUBJECT_FIELDS))})"]
    return []


def _breach(settings: AssignmentSettings) -> list[str]:
    if settings.on_breach.action == "escalate" and not settings.on_breach.escalate_to:
        return [f"{PATH}.on_breach.escalate_to: required when action is escalate"]
    return []
