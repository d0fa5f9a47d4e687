"""Checks on scoring settings that pydantic cannot make: names, event types, thresholds. Each returns problems
as "path: what was expected" so ``compile_scoring`` can report them all at once."""

from __future__ import annotations

import re
from collections.abc import Collection

from threadline.rules.conditions import did_you_mean
from threadline.rules.scoring.config import ScoringSettings
from threadline.rules.scoring.mql import mql_problems
from threadline.sync.events.records import BUILTIN_TYPES

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def settings_problems(settings: ScoringSettings, path: str) -> list[str]:
    """Every problem in ``settings`` other than those inside conditions (see compile_rule)."""
    known = BUILTIN_TYPES | set(settings.custom_events)
    return [
        *_custom_event_problems(settings.custom_events, f"{path}.custom_events"),
        *_rule_problems(settings, known, path),
        *(problem for i, reset in enumerate(settings.resets)
          for problem in _event_type_problems(reset.event, known, f"{path}.resets[{i}].event")),
        *_tier_problems(settings, path),
        *_stage_problems(settings, path),
        *_reachability_problems(settings, path),
        *mql_problems(settings, path),
    ]


def _custom_event_problems(custom: list[str], path: str) -> list[str]:
    return [f"{path}[{i}]: '{name}' is not an event type (lower-case dotted words, e.g. 'page.visited')"
            for i, name in enumerate(custom) if not EVENT_TYPE.match(name)]


def _event_type_problems(event: str, known: Collection[str], path: str) -> list[str]:
    if event in known:
        return []
    return [f"{path}: unknown event type '{event}'{did_you_mean(event, known)} "
            f"(known: {', '.join(sorted(known))}; declare others in custom_events)"]


def _rule_problems(settings: ScoringSettings, known: Collection[str], path: str) -> list[str]:
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for i, rule in enumerate(settings.rules):
        where = f"{path}.rules[{i}]"
        if rule.name in first_index:
            problems.append(f"{where}.name: duplicate rule name '{rule.name}' (also rules[{first_index[rule.name]}])")
        first_index.setdefault(rule.name, i)
        problems += _event_type_problems(rule.event, known, f"{where}.event")
        if rule.points == 0:
            problems.append(f"{where}.points: must not be 0")
    return problems


def _tier_problems(settings: ScoringSettings, path: str) -> list[str]:
    problems: list[str] = []
    names: set[str] = set()
    mins: set[int] = set()
    for i, tier in enumerate(settings.tiers):
        if tier.name in names:
            problems.append(f"{path}.tiers[{i}].name: duplicate tier name '{tier.name}'")
        if tier.min in mins:
            problems.append(f"{path}.tiers[{i}].min: another tier already starts at {tier.min}")
        names.add(tier.name)
        mins.add(tier.min)
    return problems


def _stage_problems(settings: ScoringSettings, path: str) -> list[str]:
    problems: list[str] = []
    for i, (before, stage) in enumerate(zip(settings.stages, settings.stages[1:], strict=False), start=1):
        if stage.at_least <= before.at_least:
            problems.append(f"{path}.stages[{i}].at_least: {stage.at_least} must be above the previous stage's "
                            f"{before.at_least} (stages are listed in order)")
    values = [stage.value for stage in settings.stages]
    for i, value in enumerate(values):
        if value in values[:i]:
            problems.append(f"{path}.stages[{i}].value: duplicate stage '{value}'")
    return problems


def max_total(settings: ScoringSettings) -> int | None:
    """The most points the rules can ever hold at once, or None when some positive rule is uncapped.

    A window does not bound a rule (it fires again after each new ``count`` events), so only caps
    make the maximum decidable. Resets zero what they clear, so they never raise the maximum.
    """
    positive = [rule for rule in settings.rules if rule.points > 0]
    if any(rule.cap is None for rule in positive):
        return None
    return sum(rule.cap for rule in positive if rule.cap is not None)


def _reachability_problems(settings: ScoringSettings, path: str) -> list[str]:
    ceiling = max_total(settings)
    if ceiling is None:
        return []
    why = f"the rules can award at most {ceiling} points (every positive rule is capped)"
    return [
        *(f"{path}.tiers[{i}].min: {tier.min} is unreachable: {why}"
          for i, tier in enumerate(settings.tiers) if tier.min > ceiling),
        *(f"{path}.stages[{i}].at_least: {stage.at_least} is unreachable: {why}"
          for i, stage in enumerate(settings.stages) if stage.at_least > ceiling),
    ]
