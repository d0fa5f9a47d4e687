"""Conditions over a flat namespace, shared by scoring and assignment.

A condition spec is a mapping of dotted name -> test, all of which must hold::

    {"contact.industry": {"in": ["SaaS", "Fintech"]},
     "event.url": {"contains": "/pricing"},
     "contact.numberofemployees": {">=": 200, "<": 1000},
     "score.total": {">=": 71},
     "contact.country": "DE"}                      # a bare value means "equals"

Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not_in``, ``contains``,
``starts_with``, ``exists``. Values are compared the way CRMs store them (mostly as text):

- text compares case-insensitively (``"saas"`` equals ``"SaaS"``);
- a number in the rule compares numerically, so ``"250"`` from the CRM is ``>= 200``;
- ``true``/``false`` in the rule match booleans and the strings "true"/"false";
- a missing value (None, or "" which CRMs use for "unset") satisfies only ``!=``,
  ``not_in`` and ``exists: false``; ordering operators never hold for non-numbers.

Specs are compiled once into predicates; bad specs raise RuleError listing every problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.rules.contact_facts import CONTACT_BUILTIN_NAMES

Check = Callable[[Any], bool]
Predicate = Callable[[Mapping[str, Any]], bool]

NAMESPACES = frozenset({"contact", "event", "score"})
SCORE_NAMES = frozenset({"total", "fit", "intent", "tier"})
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "not_in", "contains", "starts_with", "exists")


class RuleError(ValueError):
    """Rules failed validation; ``problems`` holds every problem as "path: what was expected"."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid rules:\n" + "\n".join(f"  - {problem}" for problem in self.problems))


@dataclass(frozen=True)
class Test:
    """One compiled test: the dotted name it reads and the check applied to that value."""

    name: str
    check: Check

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.name.split(".", 1)[1]


def compile_conditions(
    spec: Mapping[str, Any], path: str, known_fields: set[str] | None,
    *, namespaces: Collection[str] = NAMESPACES,
) -> Predicate:
    """Compile ``spec`` into a predicate over a flat dict ({"contact.x": ..., "event.y": ..., "score.total": ...}).

    Raises RuleError for unknown operators, bad operands, unknown namespaces, and (when
    ``known_fields`` is given) unknown ``contact.*`` fields. ``event.*`` names are not checked.
    """
    tests, problems = parse_conditions(spec, path, known_fields, namespaces=namespaces)
    if problems:
        raise RuleError(problems)
    return all_of(tests)


def all_of(tests: Sequence[Test]) -> Predicate:
    """A predicate that holds when every test holds on the flat dict (names missing from it read as None)."""
    pairs = tuple((test.name, test.check) for test in tests)
    if not pairs:
        return lambda values: True
    if len(pairs) == 1:
        name, check = pairs[0]
        return lambda values: check(values.get(name))
    return lambda values: all(check(values.get(name)) for name, check in pairs)


def parse_conditions(
    spec: Any, path: str, known_fields: set[str] | None,
    *, namespaces: Collection[str] = NAMESPACES,
) -> tuple[list[Test], list[str]]:
    """Compile each entry of ``spec`` into a Test; returns the tests and the problems found (for callers that
    gather problems across many rules before raising one RuleError)."""
    if not isinstance(spec, Mapping):
        return [], [f"{path}: expected a mapping of name -> test, got {type(spec).__name__}"]
    tests: list[Test] = []
    problems: list[str] = []
    for name, test_spec in spec.items():
        where = f"{path}.{name}"
        name_problems = _check_name(name, where, known_fields, namespaces)
        check, test_problems = compile_test(test_spec, where)
        problems += name_problems + test_problems
        if not name_problems and check is not None:
            tests.append(Test(name, check))
    return tests, problems


def _check_name(name: Any, where: str, known_fields: set[str] | None, namespaces: Collection[str]) -> list[str]:
    if not isinstance(name, str) or "." not in name or not name.split(".", 1)[1]:
        return [f"{where}: expected a dotted name like 'contact.industry' or 'event.url'"]
    namespace, field = name.split(".", 1)
    if namespace not in namespaces:
        return [f"{where}: unknown namespace '{namespace}' (known: {', '.join(sorted(namespaces))})"]
    if namespace == "score" and field not in SCORE_NAMES:
        return [f"{where}: unknown score '{field}' (known: {', '.join(sorted(SCORE_NAMES))})"]
    if namespace == "contact" and known_fields is not None:
        known = set(known_fields) | CONTACT_BUILTIN_NAMES
        if field not in known:
            return [f"{where}: unknown contact field '{field}'{did_you_mean(field, known)}"]
    return []


def did_you_mean(word: str, known: Collection[str]) -> str:
    """' (did you mean 'x'?)' when a known word is close, else ''."""
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def compile_test(test_spec: Any, where: str) -> tuple[Check | None, list[str]]:
    """Compile one test (a bare value or a mapping of operator -> operand) into a check on a single value."""
    if isinstance(test_spec, list | tuple | set):
        return None, [f"{where}: a list needs an operator, e.g. {{in: [...]}}"]
    if not isinstance(test_spec, Mapping):
        return _compile_operator("=", test_spec, where)
    if not test_spec:
        return None, [f"{where}: empty test (expected an operator: {', '.join(OPERATORS)})"]
    checks: list[Check] = []
    problems: list[str] = []
    for operator, operand in test_spec.items():
        check, found = _compile_operator(operator, operand, f"{where}.{operator}")
        problems += found
        if check is not None:
            checks.append(check)
    if problems:
        return None, problems
    if len(checks) == 1:
        return checks[0], []
    return (lambda value: all(check(value) for check in checks)), []


def _compile_operator(operator: Any, operand: Any, where: str) -> tuple[Check | None, list[str]]:
    builder = _BUILDERS.get(operator)
    if builder is None:
        return None, [f"{where}: unknown operator '{operator}' (known: {', '.join(OPERATORS)})"]
    try:
        return builder(operand), []
    except _BadOperand as bad:
        return None, [f"{where}: {bad}"]


class _BadOperand(Exception):
    pass


# --- value normalisation: CRMs hand us text; rules are written with numbers, booleans and text ---

def as_number(value: Any) -> float | None:
    """A number, or numeric text as CRMs store it, as a float; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    return None


def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def _is_scalar(operand: Any) -> bool:
    return operand is None or isinstance(operand, str | int | float | bool)


# --- operator builders: each takes the operand once and returns a check on the actual value ---

def _equals(operand: Any) -> Check:
    if not _is_scalar(operand):
        raise _BadOperand(f"expected text, a number, true/false or null, got {type(operand).__name__}")
    if operand is None:
        return _is_missing
    if isinstance(operand, bool):
        return lambda value: _as_bool(value) is operand
    if isinstance(operand, int | float):
        return lambda value: as_number(value) == operand
    expected = operand.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == expected or (
        value is not None and not isinstance(value, str) and str(value).casefold() == expected)


def _not_equals(operand: Any) -> Check:
    equals = _equals(operand)
    return lambda value: not equals(value)


def _ordering(compare: Callable[[float, float], bool]) -> Callable[[Any], Check]:
    def build(operand: Any) -> Check:
        if as_number(operand) is None or isinstance(operand, str):
            raise _BadOperand(f"expected a number, got {operand!r}")

        def check(value: Any) -> bool:
            number = as_number(value)
            return number is not None and compare(number, operand)
        return check
    return build


def _member_of(operand: Any) -> Check:
    if not isinstance(operand, list | tuple) or not all(_is_scalar(item) for item in operand):
        raise _BadOperand(f"expected a list of values, got {operand!r}")
    if all(isinstance(item, str) for item in operand):
        texts = frozenset(item.casefold() for item in operand)
        return lambda value: isinstance(value, str) and value.casefold() in texts or (
            value is not None and not isinstance(value, str) and str(value).casefold() in texts)
    checks = tuple(_equals(item) for item in operand)
    return lambda value: any(check(value) for check in checks)


def _not_member_of(operand: Any) -> Check:
    member = _member_of(operand)
    return lambda value: not member(value)


def _contains(operand: Any) -> Check:
    if not isinstance(operand, str | int | float) or isinstance(operand, bool):
        raise _BadOperand(f"expected text or a number, got {operand!r}")
    needle = str(operand).casefold()
    item_equals = _equals(operand)

    def check(value: Any) -> bool:
        if isinstance(value, str):
            return needle in value.casefold()
        if isinstance(value, list | tuple | set | frozenset):
            return any(item_equals(item) for item in value)
        return False
    return check


def _starts_with(operand: Any) -> Check:
    if not isinstance(operand, str):
        raise _BadOperand(f"expected text, got {operand!r}")
    prefix = operand.casefold()
    return lambda value: isinstance(value, str) and value.casefold().startswith(prefix)


def _exists(operand: Any) -> Check:
    if not isinstance(operand, bool):
        raise _BadOperand(f"expected true or false, got {operand!r}")
    return lambda value: _is_missing(value) is not operand


_BUILDERS: dict[str, Callable[[Any], Check]] = {
    "=": _equals,
    "!=": _not_equals,
    ">": _ordering(lambda a, b: a > b),
    ">=": _ordering(lambda a, b: a >= b),
    "<": _ordering(lambda a, b: a < b),
    "<=": _ordering(lambda a, b: a <= b),
    "in": _member_of,
    "not_in": _not_member_of,
    "contains": _contains,
    "starts_with": _starts_with,
    "exists": _exists,
}
