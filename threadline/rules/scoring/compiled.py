"""A scoring rule compiled for the hot path: conditions split into a once-per-contact check and a per-event check."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from threadline.rules.conditions import Test, parse_conditions
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.config import ScoringRule

#: What the hot path reads of an event: (id, type, occurred_at, source, data). ``Scorer.score_rows`` takes these.
EventRow = tuple[str, str, datetime, str, Mapping[str, Any]]
ContactCheck = Callable[[ContactFacts], bool]
EventCheck = Callable[[str, str, Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    key: int                           # position in settings.rules (cap and window state are kept by it)
    name: str
    event: str                         # the event type it listens to
    dimension: str
    points: int
    cap: int | None
    window_count: int                  # 1 without a window
    window_span: timedelta | None
    note: str                          # contribution note when the rule fires
    contact_check: ContactCheck | None  # None: no contact conditions
    event_check: EventCheck | None      # None: no event conditions
    contact_fields: frozenset[str] = frozenset()   # the contact fields contact_check reads (domain: email)


def compile_rule(rule: ScoringRule, key: int, path: str, known_fields: set[str] | None
                 ) -> tuple[CompiledRule | None, list[str]]:
    """Compile one rule's conditions (``contact.*`` and ``event.*`` only; scores cannot feed scoring)."""
    tests, problems = parse_conditions(rule.where, f"{path}.where", known_fields, namespaces=("contact", "event"))
    if problems:
        return None, problems
    window = rule.window
    note = f"{rule.name} {window.count} times in {window.days:g} days" if window else rule.name
    return CompiledRule(
        key=key, name=rule.name, event=rule.event, dimension=rule.dimension, points=rule.points, cap=rule.cap,
        window_count=window.count if window else 1,
        window_span=timedelta(days=window.days) if window else None,
        note=note,
        contact_check=_contact_check([t for t in tests if t.namespace == "contact"]),
        event_check=_event_check([t for t in tests if t.namespace == "event"]),
        contact_fields=frozenset("email" if t.field == "domain" else t.field
                                 for t in tests if t.namespace == "contact"),
    ), []


def _contact_check(tests: Sequence[Test]) -> ContactCheck | None:
    if not tests:
        return None
    pairs = tuple((test.field, test.check) for test in tests)
    return lambda contact: all(check(contact.value(field)) for field, check in pairs)


def _event_check(tests: Sequence[Test]) -> EventCheck | None:
    """``event.type`` and ``event.source`` read the event itself; any other ``event.<key>`` reads data[key]."""
    if not tests:
        return None
    if len(tests) == 1 and tests[0].field not in ("type", "source"):
        key, check = tests[0].field, tests[0].check
        return lambda type_, source, data: check(data.get(key))
    pairs = tuple((test.field, test.check) for test in tests)

    def check_all(type_: str, source: str, data: Mapping[str, Any]) -> bool:
        for field, check in pairs:
            value = type_ if field == "type" else source if field == "source" else data.get(field)
            if not check(value):
                return False
        return True
    return check_all
