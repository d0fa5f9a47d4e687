"""Hostile sequence templates are refused with a clear reason, in bounded time, and hold the step (no crash).

Sequence templates come from configuration and render once per contact inside the scheduler, so a
template that escapes the sandbox, or merely spends a minute or a gigabyte, would take the daemon
down for everyone. Each payload below must end in a TemplateError that names the limit it hit.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from threadline.rules.sequences import SequenceSettings, compile_sequences
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.rules.sequences.templates.render import TemplateError, render, render_html
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, OutboxRow, SyncErrorRow

SECRET_FIELD = "do-not-echo-7c1e"
CONTEXT = {"contact": {"firstname": "Ada", "notes": SECRET_FIELD, "score": "12a"}, "owner": {"name": "Dana"},
           "company": "Acme"}
#: Every refusal must come well inside this (the budget itself is 0.5 s of wall time).
BOUND_SECONDS = 1.0

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.system('id') }}",
    "{{ joiner.__init__.__globals__['__builtins__']['__import__']('subprocess') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ contact.__class__.__base__.__subclasses__() }}",
    "{{ contact.items.__self__.__class__ }}",
    "{{ (contact|attr('__class__')) }}",
    "{{ request.application.__globals__ }}",
    "{{ config.__class__.__init__.__globals__['os'] }}",
    "{% set x = ''|attr('__class__') %}{{ x }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format(contact) }}",
    "{{ contact.score.__int__() }}",
]

BOMBS = [
    ("{{ 'x' * 10**9 }}", "repeated value"),
    ("{{ [0] * 10**9 }}", "repeated value"),
    ("{{ 2 ** 100000000 }}", "exponent"),
    ("{{ 'x' | center(10**9) }}", "argument"),
    ("{{ 'x' | indent(10**9, true) }}", "argument"),
    ("{{ 'x'.ljust(10**9) }}", "argument"),
    ("{{ ('\t' * 1000).expandtabs(100000) }}", "too large a value"),
    ("{{ ('x' * 5000) | replace('x', 'y' * 5000) }}", "too large a value"),
    ("{{ '{:>999999999}'.format(1) }}", "format width"),
    ("{{ '%999999999s' % 1 }}", "format width"),
    ("{{ '%999999999s' | format(1) }}", "format width"),
    ("{{ '{:>{}}'.format(1, '999999999') }}", "format widths taken from arguments"),
    ("{{ lipsum(n=100000) }}", "lipsum"),
    ("{% for i in range(10**9) %}x{% endfor %}", "argument"),
    ("{% for i in range(100000) %}x{% endfor %}", "range"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% set s = 'x' * 9000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "too much work"),
    ("{% for i in range(10000) %}{{ 'x' * 50 }}{% endfor %}", "longer than"),
    ("{% set a = 'x' * 60000 %}{% set a = a ~ a %}{% set a = a ~ a %}{{ a | length }}", "grew past"),
    ("{% set a = 'x' * 60000 %}{{ (a + a) | length }}", "grew past"),
    ("{% set s %}{{ 'x' * 60000 }}{{ 'x' * 60000 }}{% endset %}{{ s | length }}", "grew past"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
     "too much work|longer than"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "RecursionError|too much work"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ contact.notes | int(base=2) + none }}", "TypeError"),
]


def _refused(template: str, html: bool = False) -> TemplateError:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        (render_html if html else render)(template, CONTEXT)
    took = time.monotonic() - started
    assert took < BOUND_SECONDS, f"{took:.2f} s to refuse {template!r}"
    assert SECRET_FIELD not in caught.value.reason          # reasons never quote the contact's values
    return caught.value


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_are_refused(template: str) -> None:
    for html in (False, True):
        reason = _refused(template, html).reason
        assert "unsafe" in reason or "undefined" in reason.lower(), reason


@pytest.mark.parametrize(("template", "reason"), BOMBS, ids=[b[0][:40] for b in BOMBS])
def test_resource_bombs_are_refused_quickly_with_the_limit_named(template: str, reason: str) -> None:
    refused = _refused(template)
    assert re.search(reason, refused.reason), refused.reason


def test_ordinary_templates_still_render_loops_macros_and_formats() -> None:
    template = ("{% macro greet(name) %}Hi {{ name | title }}{% endmacro %}{{ greet(contact.firstname) }}, "
                "{% for n in range(3) %}{{ n }}{{ ',' if not loop.last }}{% endfor %} "
                "{{ '%-6s|' % company }}{{ '{:>5}'.format(owner.name) }} {{ 'ab' * 3 }} {{ 2 ** 10 }}")
    assert render(template, CONTEXT) == "Hi Ada, 0,1,2 Acme  | Dana ababab 1024"


def test_a_contact_with_long_fields_still_renders() -> None:
    """HubSpot text fields hold up to 65,536 characters: the limits are about what a template builds."""
    notes = "n" * 65_536
    big = {**CONTEXT, "contact": {"firstname": "Ada", "notes": notes, **{f"p{i}": "x" * 500 for i in range(300)}}}
    assert render("Hi {{ contact.firstname | title }}: {{ contact.notes | truncate(12) }}", big) == "Hi Ada: nnnnnnnnn..."
    assert render("{{ contact.get('firstname') }} {{ contact.notes | length }}", big) == "Ada 65536"


# -- the runner holds such a step with its reason, and the other contacts' steps still go out ---------------

MONDAY = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
DANA = SendingMailbox("dana@rep.example", "o1", display_name="Dana Scully")


def _sequence(name: str, body: str) -> SequenceSettings:
    return SequenceSettings.model_validate({
        "name": name, "enroll_on": "form.submitted", "window": {"start": "08:00", "end": "18:00"},
        "spacing_minutes": 0, "steps": [{"kind": "email", "subject": "Hi {{ contact.firstname }}", "body": body}]})


def test_a_hostile_step_is_held_with_its_reason_and_the_cycle_goes_on(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with store.session() as session:
        for crm_id in ("c1", "c2"):
            session.add(ContactRow(crm_id=crm_id, primary_email=f"{crm_id}@acme.io", first_name="Ada",
                                   company="Acme", owner_id="o1", updated_at=MONDAY, properties="{}"))
        record_events(session, [Event(id=event_id("form.submitted", c), type="form.submitted", contact_id=c,
                                      occurred_at=MONDAY, source="api", data={}) for c in ("c1", "c2")])
    sequences = [_sequence("bomb", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"),
                 _sequence("crash", "{% for i in range(10**9) %}x{% endfor %}"),
                 _sequence("fine", "Hello {{ contact.firstname }}")]
    runner = SequenceRunner(store, compile_sequences(sequences), (DANA,), public_url="https://tl.example.com",
                            unsubscribe_secret="s3cret", owner_names=lambda: {"o1": "Dana"})
    started = time.monotonic()
    summary = runner.run(MONDAY + timedelta(minutes=1))
    assert time.monotonic() - started < 10
    with store.session() as session:
        sends = [json.loads(r.payload)["sequence"] for r in session.exec(select(OutboxRow)).all()]
        errors = [(e.kind, e.message) for e in session.exec(select(SyncErrorRow)).all()]
    store.dispose()
    assert sorted(sends) == ["fine", "fine"]
    assert summary.held == 4
    reasons = " | ".join(message for kind, message in errors if kind == "template_error")
    assert "sequence bomb step 1: SecurityError: the template does too much work" in reasons
    assert "sequence crash step 1: SecurityError: an argument in the template is over 100,000" in reasons
