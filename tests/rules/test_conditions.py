"""Conditions over the flat namespace: operators as CRMs store values, and every problem reported with its path."""

from __future__ import annotations

import pytest

from threadline.rules.conditions import RuleError, compile_conditions
from threadline.rules.contact_facts import ContactFacts

FIELDS = {"industry", "country", "numberofemployees", "email", "lifecyclestage", "tags"}


def holds(spec: dict, values: dict) -> bool:
    return compile_conditions(spec, "rules.test", FIELDS)(values)


def test_bare_value_means_equals_ignoring_case():
    assert holds({"contact.country": "DE"}, {"contact.country": "de"})
    assert not holds({"contact.country": "DE"}, {"contact.country": "FR"})
    assert not holds({"contact.country": "DE"}, {})


def test_numbers_in_rules_compare_numerically_with_crm_text():
    spec = {"contact.numberofemployees": {">=": 200, "<": 1000}}
    assert holds(spec, {"contact.numberofemployees": "250"})
    assert holds(spec, {"contact.numberofemployees": 200})
    assert not holds(spec, {"contact.numberofemployees": "1000"})
    assert not holds(spec, {"contact.numberofemployees": "many"})
    assert not holds(spec, {})
    assert holds({"contact.numberofemployees": 50}, {"contact.numberofemployees": "50.0"})


def test_in_and_not_in():
    assert holds({"contact.industry": {"in": ["SaaS", "Fintech"]}}, {"contact.industry": "fintech"})
    assert not holds({"contact.industry": {"in": ["SaaS", "Fintech"]}}, {"contact.industry": "Retail"})
    assert holds({"contact.industry": {"not_in": ["Retail"]}}, {"contact.industry": "SaaS"})
    assert holds({"contact.industry": {"not_in": ["Retail"]}}, {})


def test_contains_starts_with_and_exists():
    assert holds({"event.url": {"contains": "/pricing"}}, {"event.url": "https://x.example/Pricing?a=1"})
    assert not holds({"event.url": {"contains": "/pricing"}}, {"event.url": None})
    assert holds({"contact.tags": {"contains": "vip"}}, {"contact.tags": ["VIP", "beta"]})
    assert holds({"event.url": {"starts_with": "https://x.example/"}}, {"event.url": "https://x.example/a"})
    assert holds({"contact.email": {"exists": True}}, {"contact.email": "a@b.example"})
    assert holds({"contact.email": {"exists": False}}, {"contact.email": ""})


def test_not_equals_and_booleans():
    assert holds({"contact.country": {"!=": "DE"}}, {})
    assert holds({"event.opted_in": True}, {"event.opted_in": "true"})
    assert not holds({"event.opted_in": True}, {"event.opted_in": False})


def test_every_condition_must_hold():
    spec = {"contact.country": "DE", "score.total": {">=": 71}}
    assert holds(spec, {"contact.country": "DE", "score.total": 80})
    assert not holds(spec, {"contact.country": "DE", "score.total": 70})


def test_every_problem_is_reported_with_its_path():
    spec = {
        "contact.industy": "SaaS",
        "contact.country": {"like": "D%"},
        "contact.numberofemployees": {">=": "lots"},
        "contcat.email": {"exists": True},
        "score.totl": {">": 1},
        "event.anything": {"in": "not-a-list"},
    }
    with pytest.raises(RuleError) as raised:
        compile_conditions(spec, "rules.assignment.rules[0].when", FIELDS)
    problems = raised.value.problems
    assert problems == [
        "rules.assignment.rules[0].when.contact.industy: unknown contact field 'industy' (did you mean 'industry'?)",
        "rules.assignment.rules[0].when.contact.country.like: unknown operator 'like' "
        "(known: =, !=, >, >=, <, <=, in, not_in, contains, starts_with, exists)",
        "rules.assignment.rules[0].when.contact.numberofemployees.>=: expected a number, got 'lots'",
        "rules.assignment.rules[0].when.contcat.email: unknown namespace 'contcat' (known: contact, event, score)",
        "rules.assignment.rules[0].when.score.totl: unknown score 'totl' (known: fit, intent, tier, total)",
        "rules.assignment.rules[0].when.event.anything.in: expected a list of values, got 'not-a-list'",
    ]
    assert "industy" in str(raised.value)


def test_fields_are_checked_only_when_known_fields_are_given():
    predicate = compile_conditions({"contact.whatever": "x"}, "p", None)
    assert predicate({"contact.whatever": "X"})


def test_contact_facts_flatten_into_the_namespace():
    contact = ContactFacts("c1", {"email": "Dana@Acme.example", "industry": "SaaS", "owner_id": "7"})
    flat = contact.flat()
    assert flat["contact.domain"] == "acme.example"
    assert flat["contact.owner_id"] == "7"
    assert compile_conditions({"contact.domain": "acme.example", "contact.id": "c1"}, "p", FIELDS)(flat)


def test_free_mail_is_not_a_company_domain():
    assert ContactFacts("c1", {"email": "dana@gmail.com"}).domain is None
    assert ContactFacts("c1", {}).domain is None
