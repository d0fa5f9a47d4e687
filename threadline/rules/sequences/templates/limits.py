"""Bounds on what a sequence template may cost: time, output size, and the operations that build big values.

The Jinja2 sandbox keeps a template away from Python's internals, but not from spending CPU or
memory: ``{{ 'x' * 10**9 }}``, ``{{ 'x' | center(10**9) }}``, ``lipsum(n=10**5)`` or two nested
loops over ``range(100000)`` would stall the scheduler (or exhaust the container's memory) once per
contact. A sequence template is a short email, so these limits sit far above any real one and far
below harm. Every refusal is a ``SecurityError`` whose message says which limit, never a value.

How: operations that multiply sizes are checked *before* they run (``*``, ``**``, ``%``, ``+``,
widths in format strings, filter and method arguments); every call, attribute look-up, binary
operation and loop iteration ticks a per-render budget; values and the output are checked after.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

#: Characters (or items) in any one value and in the rendered output.
MAX_CHARS = 100_000
#: Size x multiplier that one filter or method call may build (e.g. len(text) * width for indent/center).
MAX_WORK = 10_000_000
#: Calls, attribute look-ups, operations and loop iterations per render (a real step template takes tens).
MAX_STEPS = 50_000
#: Wall time per render, a backstop for steps that are slow (macro calls). A held step is retried an hour
#: later (sequence_runner.HOLD_FOR), so a hostile template costs at most this per enrolled contact per hour.
MAX_SECONDS = 0.5
MAX_RANGE = 10_000
MAX_EXPONENT = 1_000

_FORMAT_SPEC = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?|\{[^{}]*:([^{}]*)\}|\{[^{}]*:[^{}]*\{")
_DIGITS = re.compile(r"\d+")


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise SecurityError(f"the template does too much work (over {MAX_STEPS:,} steps)")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise SecurityError(f"the template took longer than {MAX_SECONDS:g} s")


_budget: ContextVar[_Budget | None] = ContextVar("threadline_template_budget", default=None)


@contextmanager
def render_budget() -> Iterator[None]:
    """A fresh budget for one render (nested renders share the outer one)."""
    token = _budget.set(_budget.get() or _Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:       # compile-time constant folding runs without one
        budget.tick()


def size_of(value: Any, depth: int = 0) -> int:
    """Characters in a string, or items plus the sizes of the items in a list/tuple/dict (two levels deep)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple | dict | set | frozenset) and depth < 2:
        items = value.values() if isinstance(value, dict) else value
        return len(value) + sum(size_of(item, depth + 1) for item in items)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def checked(value: Any) -> Any:
    """`value`, unless it is larger than MAX_CHARS."""
    if size_of(value) > MAX_CHARS:
        raise SecurityError(f"a value in the template grew past {MAX_CHARS:,} characters")
    return value


def check_format(fmt: str) -> None:
    """Refuse a format string with a width or precision above MAX_CHARS, or a width taken from an argument."""
    for match in _FORMAT_SPEC.finditer(fmt):
        text = match.group(0)
        if "*" in (match.group(1) or "", match.group(2) or "") or text.endswith("{"):
            raise SecurityError("format widths taken from arguments are not allowed in templates")
        if any(int(d) > MAX_CHARS for d in _DIGITS.findall(text)):
            raise SecurityError(f"a format width in the template is over {MAX_CHARS:,}")


def _factor(value: Any) -> int:
    # Only what a call can multiply: numbers (widths, counts) and strings/lists. A dict argument (the
    # contact's fields) is not grown by a call, so a contact with long notes does not block its filters.
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value)
    return size_of(value) if isinstance(value, str | bytes | list | tuple) else 0


def _check_arguments(args: Iterable[Any]) -> None:
    factors = sorted((_factor(a) for a in args), reverse=True)
    if factors and factors[0] > MAX_CHARS:
        raise SecurityError(f"an argument in the template is over {MAX_CHARS:,}")
    if len(factors) > 1 and factors[0] * factors[1] > MAX_WORK:
        raise SecurityError("a filter or method call in the template would build too large a value")


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)        # keeps jinja_pass_arg (pass_context etc.)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        values = [a for a in (*args, *kwargs.values()) if not isinstance(a, Context)]
        _check_arguments(values)
        if name == "format" and values and isinstance(values[0], str):
            check_format(values[0])
        return checked(func(*args, **kwargs))

    return bounded


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() in templates is limited to {MAX_RANGE:,} items")
    return numbers


def _iterate(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment with the limits above. Render inside `render_budget()`."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters.update(_iterate=_iterate, _bounded=checked)
        self.globals["range"] = _bounded_range
        self.globals.pop("lipsum", None)          # a text generator: an output bomb with no use in an email

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents in templates are limited to {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and size_of(seq) * max(times, 0) > MAX_CHARS:
                    raise SecurityError(f"a repeated value in the template would be over {MAX_CHARS:,} characters")
        if operator == "%" and isinstance(left, str):
            check_format(left)
        if operator == "+" and size_of(left) + size_of(right) > MAX_CHARS:
            raise SecurityError(f"a value in the template grew past {MAX_CHARS:,} characters")
        return checked(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            check_format(obj)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        owner = getattr(__obj, "__self__", None)           # the string of a bound str method: 'x'.ljust(n)
        _check_arguments([owner, *args, *kwargs.values()] if isinstance(owner, str)
                         else [*args, *kwargs.values()])
        return checked(super().call(__context, __obj, *args, **kwargs))


def bound_template(tree: nodes.Template) -> nodes.Template:
    """Route every loop through the step budget and check every `~` concatenation and `{% set %}` block."""
    for loop in tree.find_all(nodes.For):
        loop.iter = _filter(loop.iter, "_iterate")
    for concat in list(tree.find_all(nodes.Concat)):
        _replace(tree, concat, _filter(concat, "_bounded"))
    for block in tree.find_all(nodes.AssignBlock):
        if block.filter is None:
            block.filter = _filter(None, "_bounded")
    return tree


def _filter(node: nodes.Node | None, name: str) -> nodes.Filter:     # Node: Jinja types For.iter as Node
    lineno = node.lineno if node is not None else 0
    return nodes.Filter(node, name, [], [], None, None, lineno=lineno)


def _replace(tree: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    """Put `new` where `old` is in its parent (Jinja nodes have no parent pointers)."""
    for parent in [tree, *tree.find_all(nodes.Node)]:
        for field, value in parent.iter_fields():
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                setattr(parent, field, [new if item is old else item for item in value])
                return
