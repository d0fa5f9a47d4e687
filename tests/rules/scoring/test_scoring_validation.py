"""Scoring rules are validated on load: every problem at once, each with its path and what was expected."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from threadline.rules.conditions import RuleError
from threadline.rules.scoring import (
    Decay,
    Reset,
    ScoringRule,
    ScoringSettings,
    StageRule,
    Tier,
    compile_scoring,
)

FIELDS = {"email", "industry", "country", "numberofemployees", "lifecyclestage"}


def problems_of(settings: ScoringSettings, known_fields: set[str] | None = FIELDS) -> list[str]:
    with pytest.raises(RuleError) as raised:
        compile_scoring(settings, known_fields)
    return raised.value.problems


def test_every_problem_is_listed_with_its_path():
    settings = ScoringSettings(
        custom_events=["page.visited"],
        rules=[
            ScoringRule(name="pricing", event="page.vist", points=10, cap=30),
            ScoringRule(name="fit", event="contact.created", dimension="fit", points=15, cap=15,
                        where={"contact.industy": "SaaS", "contact.country": {"like": "D%"}}),
            ScoringRule(name="pricing", event="page.visited", points=5, cap=5),
        ],
        resets=[Reset(event="unsubscribe")],
        tiers=[Tier(name="educational", min=1), Tier(name="mql", min=71)],
    )
    problems = problems_of(settings)
    assert problems[0].startswith("rules.scoring.rules[0].event: unknown event type 'page.vist' "
                                  "(did you mean 'page.visited'?) (known: ")
    assert "rules.scoring.rules[2].name: duplicate rule name 'pricing' (also rules[0])" in problems
    assert any(p.startswith("rules.scoring.resets[0].event: unknown event type 'unsubscribe' "
                            "(did you mean 'unsubscribed'?)") for p in problems)
    assert ("rules.scoring.tiers[1].min: 71 is unreachable: the rules can award at most 50 points "
            "(every positive rule is capped)") in problems
    assert ("rules.scoring.rules[1].where.contact.industy: unknown contact field 'industy' "
            "(did you mean 'industry'?)") in problems
    assert any(p.startswith("rules.scoring.rules[1].where.contact.country.like: unknown operator 'like'")
               for p in problems)
    assert len(problems) == 6


def test_thresholds_are_not_judged_when_a_positive_rule_is_uncapped():
    settings = ScoringSettings(rules=[ScoringRule(name="reply", event="reply.received", points=10)],
                               tiers=[Tier(name="mql", min=1000)])
    compile_scoring(settings, FIELDS)


def test_unreachable_stage_and_stages_out_of_order():
    settings = ScoringSettings(
        rules=[ScoringRule(name="reply", event="reply.received", points=10, cap=40)],
        stages=[StageRule(at_least=30, value="marketingqualifiedlead"), StageRule(at_least=20, value="lead"),
                StageRule(at_least=90, value="salesqualifiedlead")])
    assert problems_of(settings) == [
        "rules.scoring.stages[1].at_least: 20 must be above the previous stage's 30 (stages are listed in order)",
        "rules.scoring.stages[2].at_least: 90 is unreachable: the rules can award at most 40 points "
        "(every positive rule is capped)",
    ]


def test_scores_cannot_feed_scoring_and_custom_types_must_be_event_types():
    settings = ScoringSettings(
        custom_events=["Page Visited"],
        rules=[ScoringRule(name="loop", event="reply.received", points=5, where={"score.total": {">": 5}})])
    assert problems_of(settings) == [
        "rules.scoring.custom_events[0]: 'Page Visited' is not an event type (lower-case dotted words, "
        "e.g. 'page.visited')",
        "rules.scoring.rules[0].where.score.total: unknown namespace 'score' (known: contact, event)",
    ]


def test_structure_is_checked_by_the_settings_model():
    with pytest.raises(ValidationError):
        ScoringSettings.model_validate({"rules": [{"name": "x", "event": "reply.received", "points": 1,
                                                    "pionts": 2}]})
    with pytest.raises(ValidationError):
        Decay(points=5, every_days=30)


def test_event_fields_are_not_checked_against_contact_fields():
    settings = ScoringSettings(rules=[ScoringRule(name="r", event="reply.received", points=1,
                                                  where={"event.anything": "x"})])
    compile_scoring(settings, FIELDS)
