"""Message templates: Jinja2 in a sandbox, strict about missing tokens.

Templates come from configuration, so they are treated as untrusted: rendering happens in
``jinja2.sandbox.SandboxedEnvironment`` (no ``__class__`` walks, no ``_private`` attributes,
no unsafe callables) with bounds on time, output and value sizes (rules/sequences/templates/limits.py),
and a token that is not in the context is an error rather than an
empty string, because "Hi ," in a prospect's inbox is worse than a step that waits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, meta
from jinja2 import TemplateError as JinjaTemplateError

from threadline.rules.sequences.templates.limits import (
    MAX_CHARS,
    BoundedSandbox,
    bound_template,
    render_budget,
)


class TemplateError(ValueError):
    """A template could not be compiled or rendered; ``reason`` says why (never the context's values)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@cache
def _environment(html: bool) -> BoundedSandbox:
    # One environment per escaping mode; both are immutable after construction.
    return BoundedSandbox(undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True)


@lru_cache(maxsize=1024)
def _compiled(template: str, html: bool) -> Template:
    # Compiling costs ~1.7 ms, rendering ~20 us: the scheduler renders the same few step templates for
    # thousands of contacts (bench/bench_sequences.py). Errors are not cached; they raise every time.
    env = _environment(html)
    return env.from_string(bound_template(env.parse(template)))


def _render(template: str, context: Mapping[str, Any], html: bool) -> str:
    try:
        compiled = _compiled(template, html)
        with render_budget():
            return _bounded_output(compiled.generate(dict(context)))
    except TemplateError:
        raise
    except JinjaTemplateError as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc.message or exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted template holds the step, never the cycle
        # Only the type: a message such as int()'s would quote a contact's value.
        raise TemplateError(f"the template failed with {type(exc).__name__}") from None


def _bounded_output(chunks: Iterator[str]) -> str:
    out, length = [], 0
    for chunk in chunks:
        length += len(chunk)
        if length > MAX_CHARS:
            raise TemplateError(f"the rendered text is longer than {MAX_CHARS:,} characters")
        out.append(chunk)
    return "".join(out)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a plain-text template. Raises TemplateError for syntax errors, undefined tokens and sandbox
    violations. Never escapes (the output is a text/plain body or a subject line)."""
    return _render(template, context, html=False)


def render_html(template: str, context: Mapping[str, Any]) -> str:
    """Render an HTML template with autoescaping on (contact fields cannot inject markup). Same errors as render."""
    return _render(template, context, html=True)


def check_template(template: str, allowed_tokens: set[str]) -> list[str]:
    """Problems with a template found without rendering it: a syntax error, or top-level tokens outside
    ``allowed_tokens`` (e.g. ``{{ contcat.name }}``). An empty list means it may be used."""
    env = _environment(False)
    try:
        tree = env.parse(template)
    except JinjaTemplateError as exc:
        return [f"syntax error: {getattr(exc, 'message', None) or exc}"]
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed_tokens)
    return [f"unknown token '{name}' (known: {', '.join(sorted(allowed_tokens))})" for name in unknown]
