"""From a score to the CRM write and to `threadline explain` lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import effect_key
from threadline.rules.scoring import (
    ScoringRule,
    ScoringSettings,
    StageRule,
    Tier,
    compile_scoring,
    explain,
    scoring_effects,
)
from threadline.sync.events.records import Event, event_id

T0 = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
SETTINGS = ScoringSettings(
    custom_events=["form.submitted"],
    rules=[ScoringRule(name="demo request", event="form.submitted", points=25),
           ScoringRule(name="saas company", event="contact.created", dimension="fit", points=20,
                       where={"contact.industry": "SaaS"})],
    tiers=[Tier(name="educational", min=1), Tier(name="solution", min=26), Tier(name="mql", min=71)],
    stages=[StageRule(at_least=1, value="lead"), StageRule(at_least=40, value="marketingqualifiedlead")],
)
SCORER = compile_scoring(SETTINGS)
EVENTS = [
    Event(id=event_id("contact.created", "c1"), type="contact.created", contact_id="c1",
          occurred_at=T0 - timedelta(days=1), source="crm"),
    Event(id=event_id("form.submitted", "c1", "1"), type="form.submitted", contact_id="c1", occurred_at=T0,
          source="api", data={"form": "demo-request"}),
]


def contact(**fields) -> ContactFacts:
    return ContactFacts("c1", {"industry": "SaaS", **fields})


def test_effect_writes_score_tier_and_forward_stage():
    current = contact(threadline_score="20", lifecyclestage="lead")
    [effect] = scoring_effects(current, SCORER.score(current, EVENTS, T0), SETTINGS)
    assert effect.rule == "scoring"
    assert dict(effect.fields) == {"threadline_score": "45", "threadline_score_fit": "20",
                                   "threadline_score_intent": "25", "threadline_score_tier": "solution",
                                   "lifecyclestage": "marketingqualifiedlead"}
    assert effect.previous["threadline_score"] == "20"
    assert effect.previous["lifecyclestage"] == "lead"
    assert effect.reason == "score 20 -> 45 (tier solution), stage -> marketingqualifiedlead"
    assert effect.key == effect_key("set_fields", "c1", *sorted(f"{k}={v}" for k, v in effect.fields.items()))


def test_no_effect_when_the_crm_already_holds_the_values():
    current = contact(threadline_score=45, threadline_score_fit="20", threadline_score_intent="25.0",
                      threadline_score_tier="solution", lifecyclestage="marketingqualifiedlead")
    assert scoring_effects(current, SCORER.score(current, EVENTS, T0), SETTINGS) == []


def test_stage_never_moves_backward_or_off_an_unknown_stage():
    for stage in ("salesqualifiedlead", "customer"):
        current = contact(lifecyclestage=stage)
        [effect] = scoring_effects(current, SCORER.score(current, EVENTS, T0), SETTINGS,
                                   stage_order=["subscriber", "lead", "marketingqualifiedlead",
                                                "salesqualifiedlead", "opportunity"])
        assert "lifecyclestage" not in effect.fields


def test_same_result_gives_the_same_effect_key():
    current = contact()
    first = scoring_effects(current, SCORER.score(current, EVENTS, T0), SETTINGS)
    again = scoring_effects(current, SCORER.score(current, list(reversed(EVENTS)), T0), SETTINGS)
    assert first == again


def test_only_the_total_is_written_without_fit_and_intent():
    settings = SETTINGS.model_copy(update={"fit_and_intent": False})
    current = contact(lifecyclestage="marketingqualifiedlead")
    [effect] = scoring_effects(current, SCORER.score(current, EVENTS, T0), settings)
    assert set(effect.fields) == {"threadline_score", "threadline_score_tier"}


def test_explain_lists_each_contribution_then_the_sum():
    assert explain(SCORER.score(contact(), EVENTS, T0)) == [
        "+20 saas company (2026-11-19 14:03)",
        "+25 demo request (2026-11-20 14:03)",
        "= 45 (fit 20, intent 25), tier solution, stage marketingqualifiedlead",
    ]
