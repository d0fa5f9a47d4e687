"""Load-time checks of `rules.sequences` that pydantic cannot make: names, triggers, conditions, templates."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

from threadline.rules.conditions import Predicate, compile_conditions, parse_conditions
from threadline.rules.contact_facts import CONTACT_BUILTIN_NAMES
from threadline.rules.sequences.branching import (
    BRANCHED,
    compile_branches,
    reachable,
    step_edges,
    step_indexes,
    step_label,
)
from threadline.rules.sequences.config import END, EmailStep, SequenceSettings, TaskStep
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
        problems += _step_problems(sequence, where, known_fields, custom_events)
    return problems


def _event_type_problems(name: str, where: str, custom_events: Collection[str] | None) -> list[str]:
    """An unknown event type: checked strictly when the custom events are known, else only near-misses of
    built-in types are refused (a custom type is allowed)."""
    known = BUILTIN_TYPES | SEQUENCE_TYPES | {BRANCHED}
    if name in known or (custom_events is not None and name in custom_events):
        return []
    close = difflib.get_close_matches(name, sorted(known | set(custom_events or ())), n=1)
    if custom_events is None and not close:
        return []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return [f"{where}: unknown event type '{name}'{hint}"]


def _trigger_problems(sequence: SequenceSettings, where: str, custom_events: Collection[str] | None) -> list[str]:
    problems = _event_type_problems(sequence.enroll_on, f"{where}.enroll_on", custom_events)
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


def _step_problems(sequence: SequenceSettings, where: str, known_fields: set[str] | None,
                   custom_events: Collection[str] | None) -> list[str]:
    if not sequence.steps:
        return [f"{where}.steps: a sequence needs at least one step"]
    problems = _graph_problems(sequence, where)
    for j, step in enumerate(sequence.steps):
        at = f"{where}.steps[{j}]"
        texts = [("subject", step.subject), ("body", step.body)]
        texts += [(f"variants[{k}].{part}", text) for k, variant in enumerate(step.variants)
                  for part, text in (("subject", variant.subject), ("body", variant.body)) if text is not None]
        for part, text in texts:
            problems += [f"{at}.{part}: {problem}" for problem in check_template(text, set(TEMPLATE_TOKENS))]
        problems += compile_branches(step.branches, sequence.steps, at, known_fields)[1]
        for k, branch in enumerate(step.branches):
            for part, spec in (("seen", branch.seen), ("not_seen", branch.not_seen)):
                wanted = (spec or {}).get("event.type")
                names = wanted.get("in", []) if isinstance(wanted, dict) else [wanted] if wanted else []
                for name in names:
                    problems += _event_type_problems(str(name), f"{at}.branches[{k}].{part}.event.type",
                                                     custom_events)
        problems += _variant_problems(step, at)
    return problems


def _graph_problems(sequence: SequenceSettings, where: str) -> list[str]:
    """Targets exist and lie ahead (so no loop can send without end), and every step can be reached."""
    steps = sequence.steps
    names = step_indexes(steps)
    problems = [f"{where}.steps[{j}].name: duplicate step name '{step.name}'"
                for j, step in enumerate(steps) if step.name and names[step.name] != j]
    problems += [f"{where}.steps[{j}].name: 'end' is reserved (goto: end ends the enrolment)"
                 for j, step in enumerate(steps) if step.name == END]
    for j, step in enumerate(steps):
        targets = [(f"{where}.steps[{j}].then", step.then)] if step.then is not None else []
        targets += [(f"{where}.steps[{j}].branches[{k}].goto", b.goto) for k, b in enumerate(step.branches)]
        for path, target in targets:
            if target == END:
                continue
            if target not in names:
                known = ", ".join(sorted(names)) or "no step has a name"
                problems.append(f"{path}: no step named '{target}' (steps: {known}; or 'end')")
            elif names[target] <= j:
                problems.append(f"{path}: '{target}' is step {names[target] + 1}, not after step {j + 1}: a branch or "
                                "`then` may only go forward (a loop back would send without end)")
    reached = reachable(step_edges(steps), 0)
    problems += [f"{where}.steps[{j}]: unreachable: no step goes to '{step_label(steps, j)}' (give it a name and "
                 "a branch or `then` that leads to it, or remove it)" for j, step in enumerate(steps) if j not in reached]
    return problems


def _variant_problems(step: EmailStep | TaskStep, at: str) -> list[str]:
    names = [variant.name for variant in step.variants]
    problems = []
    if len(names) == 1:
        problems.append(f"{at}.variants: an A/B test needs at least two variants")
    problems += [f"{at}.variants[{k}].name: duplicate variant name '{name}'"
                 for k, name in enumerate(names) if names.index(name) != k]
    problems += [f"{at}.variants[{k}]: changes nothing (give it a subject, body and/or delay)"
                 for k, v in enumerate(step.variants) if v.subject is None and v.body is None and v.delay is None]
    if step.winner is not None and step.winner not in names:
        problems.append(f"{at}.winner: no variant named '{step.winner}' (variants: {', '.join(names) or 'none'})")
    return problems


def compile_when(sequence: SequenceSettings, known_fields: set[str] | None) -> Predicate:
    """The enrolment predicate (call after sequence_problems found nothing)."""
    return compile_conditions(sequence.enroll_when, sequence.name, known_fields)
