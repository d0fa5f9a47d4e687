"""Load-time checks of `rules.sequences` that pydantic cannot make: names, triggers, conditions, templates."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

from threadline.rules.conditions import Predicate, compile_conditions, parse_conditions
from threadline.rules.contact_facts import CONTACT_BUILTIN_NAMES
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.steps import TEMPLATE_TOKENS
from threadline.rules.sequences.templates.render import check_template
from threadline.sync.events.records import BUILTIN_TYPES

#: Event types only sequences know: the silence trigger and manual stop/resume.
SEQUENCE_TYPES = frozenset({"contact.silent", "sequence.stopped", "sequence.resumed"})


def sequence_problems(settings: Sequence[SequenceSettings], path: str, known_fields: set[str] | None,
                      custom_events: Collection[str] | None) -> list[str]:
    """Every problem in ``settings`` as "path: what was expected" (empty when valid)."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, sequence in enumerate(settings):
        where = f"{path}[{i}]"
        if sequence.name in seen:
            problems.append(f"{where}.name: duplicate sequence name '{sequence.name}'")
        seen.add(sequence.name)
        problems += _trigger_problems(sequence, where, custom_events)
        problems += parse_conditions(sequence.enroll_when, f"{where}.enroll_when", known_fields)[1]
        problems += _field_problems(sequence, where, known_fields)
        problems += _step_problems(sequence, where)
    return problems


def _trigger_problems(sequence: SequenceSettings, where: str, custom_events: Collection[str] | None) -> list[str]:
    known = BUILTIN_TYPES | SEQUENCE_TYPES
    problems = []
    if sequence.enroll_on not in known and (custom_events is None or sequence.enroll_on not in custom_events):
        close = difflib.get_close_matches(sequence.enroll_on, sorted(known | set(custom_events or ())), n=1)
        if custom_events is not None or close:
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}.enroll_on: unknown event type '{sequence.enroll_on}'{hint}")
    if (sequence.enroll_on == "contact.silent") != (sequence.silent_days is not None):
        problems.append(f"{where}.silent_days: required with enroll_on: contact.silent, and only with it")
    return problems


def _field_problems(sequence: SequenceSettings, where: str, known_fields: set[str] | None) -> list[str]:
    if known_fields is None:
        return []
    known = set(known_fields) | CONTACT_BUILTIN_NAMES
    named = {"exit_stage_field": sequence.exit_stage_field, "deal_closed_field": sequence.deal_closed_field,
             "window.timezone_field": sequence.window.timezone_field}
    return [f"{where}.{name}: unknown contact field '{field}'" for name, field in named.items()
            if field is not None and field not in known]


def _step_problems(sequence: SequenceSettings, where: str) -> list[str]:
    if not sequence.steps:
        return [f"{where}.steps: a sequence needs at least one step"]
    problems = []
    for j, step in enumerate(sequence.steps):
        for part in ("subject", "body"):
            for problem in check_template(getattr(step, part), set(TEMPLATE_TOKENS)):
                problems.append(f"{where}.steps[{j}].{part}: {problem}")
    return problems


def compile_when(sequence: SequenceSettings, known_fields: set[str] | None) -> Predicate:
    """The enrolment predicate (call after sequence_problems found nothing)."""
    return compile_conditions(sequence.enroll_when, sequence.name, known_fields)
