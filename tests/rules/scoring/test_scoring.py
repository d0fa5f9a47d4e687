"""Scoring semantics: points, caps, windows, decay, resets, fit vs intent, tiers, stages, replay safety."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring import (
    Decay,
    Reset,
    ScoringRule,
    ScoringSettings,
    StageRule,
    Tier,
    Window,
    compile_scoring,
)
from threadline.sync.events.records import Event, event_id

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
SAAS = ContactFacts("c1", {"email": "dana@acme.example", "industry": "SaaS", "numberofemployees": "250"})
RETAIL = ContactFacts("c2", {"email": "lee@shop.example", "industry": "Retail", "numberofemployees": "12"})


def ev(type_: str, day: float, n: int = 0, **data) -> Event:
    return Event(id=event_id(type_, str(day), str(n)), type=type_, contact_id="c1",
                 occurred_at=T0 + timedelta(days=day), source="api", data=data)


def visit(url: str, day: float, n: int = 0) -> Event:
    return ev("page.visited", day, n, url=url)


def scorer(*rules: ScoringRule, **settings):
    return compile_scoring(ScoringSettings(rules=list(rules), custom_events=["page.visited", "form.submitted"],
                                           **settings))


PRICING = ScoringRule(name="pricing page", event="page.visited", where={"event.url": {"contains": "/pricing"}},
                      points=10)
DEMO = ScoringRule(name="demo request", event="form.submitted", where={"event.form": "demo-request"}, points=25)
CAREERS = ScoringRule(name="careers page", event="page.visited", where={"event.url": {"contains": "/careers"}},
                      points=-10)
FIT_SAAS = ScoringRule(name="saas company", event="contact.created", dimension="fit", points=20,
                       where={"contact.industry": {"in": ["SaaS", "Fintech"]}, "contact.numberofemployees": {">=": 200}})


def test_points_follow_event_type_and_event_conditions():
    result = scorer(PRICING, DEMO).score(SAAS, [
        visit("/pricing", 1), visit("/blog", 2), ev("form.submitted", 3, form="demo-request"),
        ev("form.submitted", 4, form="newsletter")], NOW)
    assert (result.intent, result.fit, result.total) == (35, 0, 35)
    assert [c.rule for c in result.contributions] == ["pricing page", "demo request"]


def test_contact_conditions_decide_fit_and_fit_is_separate_from_intent():
    rules = scorer(FIT_SAAS, PRICING)
    saas = rules.score(SAAS, [ev("contact.created", 0), visit("/pricing", 1)], NOW)
    retail = rules.score(RETAIL, [ev("contact.created", 0), visit("/pricing", 1)], NOW)
    assert (saas.fit, saas.intent, saas.total) == (20, 10, 30)
    assert (retail.fit, retail.intent, retail.total) == (0, 10, 10)


def test_negative_points_never_take_a_dimension_below_zero():
    result = scorer(PRICING, CAREERS).score(SAAS, [visit("/careers", 1), visit("/pricing", 2),
                                                   visit("/careers", 3)], NOW)
    assert result.intent == 0
    assert [(c.rule, c.points) for c in result.contributions] == [("pricing page", 10), ("careers page", -10)]


def test_cap_limits_what_a_rule_awards_in_total():
    capped = PRICING.model_copy(update={"cap": 25})
    result = scorer(capped).score(SAAS, [visit("/pricing", d) for d in range(5)], NOW)
    assert result.intent == 25
    assert [c.points for c in result.contributions] == [10, 10, 5]
    assert result.contributions[-1].note == "pricing page (cap 25 reached)"


def test_window_fires_when_enough_visits_fall_within_the_days():
    repeat = PRICING.model_copy(update={"name": "pricing repeat", "window": Window(count=2, days=7)})
    close = scorer(repeat).score(SAAS, [visit("/pricing", 1), visit("/pricing", 5)], NOW)
    spread = scorer(repeat).score(SAAS, [visit("/pricing", 1), visit("/pricing", 9)], NOW)
    assert close.intent == 10
    assert close.contributions[0].at == T0 + timedelta(days=5)
    assert close.contributions[0].note == "pricing repeat 2 times in 7 days"
    assert spread.intent == 0


def test_window_needs_a_new_full_set_of_events_before_firing_again():
    repeat = PRICING.model_copy(update={"window": Window(count=2, days=7)})
    result = scorer(repeat).score(SAAS, [visit("/pricing", d) for d in (0, 1, 2, 3, 4)], NOW)
    assert [c.at for c in result.contributions] == [T0 + timedelta(days=1), T0 + timedelta(days=3)]


def test_decay_applies_per_full_period_of_inactivity_until_now():
    rules = scorer(DEMO, decay=Decay(points=-5, every_days=30))
    demo = ev("form.submitted", 0, form="demo-request")
    assert rules.score(SAAS, [demo], T0 + timedelta(days=29)).intent == 25
    after_65_days = rules.score(SAAS, [demo], T0 + timedelta(days=65))
    assert after_65_days.intent == 15
    assert after_65_days.contributions[-1].note == "decay: 60 days inactive"
    assert after_65_days.contributions[-1].at == T0 + timedelta(days=60)
    assert rules.score(SAAS, [demo], T0 + timedelta(days=3000)).intent == 0


def test_decay_counts_quiet_gaps_between_events_and_restarts_on_activity():
    rules = scorer(DEMO, PRICING, decay=Decay(points=-5, every_days=30))
    events = [ev("form.submitted", 0, form="demo-request"), visit("/pricing", 40), visit("/pricing", 60)]
    result = rules.score(SAAS, events, T0 + timedelta(days=80))
    # 25 - 5 (days 0-40: one full period) + 10 + 10; day 60 -> 80 is not a full period
    assert result.intent == 40


def test_decay_leaves_fit_alone():
    rules = scorer(FIT_SAAS, DEMO, decay=Decay(points=-5, every_days=30))
    result = rules.score(SAAS, [ev("contact.created", 0), ev("form.submitted", 0, form="demo-request")],
                         T0 + timedelta(days=400))
    assert (result.fit, result.intent) == (20, 0)


def test_unsubscribe_resets_to_zero_and_later_events_count_again():
    capped = PRICING.model_copy(update={"cap": 10})
    rules = scorer(capped, FIT_SAAS, resets=[Reset(event="unsubscribed")])
    result = rules.score(SAAS, [ev("contact.created", 0), visit("/pricing", 1), ev("unsubscribed", 2),
                                visit("/pricing", 3)], NOW)
    assert (result.fit, result.intent) == (0, 10)
    reset = next(c for c in result.contributions if c.rule == "reset")
    assert (reset.points, reset.note) == (-30, "reset by unsubscribed")


def test_reset_of_one_dimension_keeps_the_other():
    rules = scorer(PRICING, FIT_SAAS, resets=[Reset(event="unsubscribed", dimensions=["intent"])])
    result = rules.score(SAAS, [ev("contact.created", 0), visit("/pricing", 1), ev("unsubscribed", 2)], NOW)
    assert (result.fit, result.intent) == (20, 0)


TIERS = [Tier(name="educational", min=1), Tier(name="solution", min=26), Tier(name="mql", min=71)]


def test_tier_is_the_highest_reached():
    rules = scorer(PRICING, DEMO, tiers=list(reversed(TIERS)))
    assert rules.score(SAAS, [], NOW).tier is None
    assert rules.score(SAAS, [visit("/pricing", 1)], NOW).tier == "educational"
    assert rules.score(SAAS, [visit("/pricing", 1), ev("form.submitted", 2, form="demo-request")],
                       NOW).tier == "solution"


def test_stage_is_the_furthest_the_score_ever_reached():
    stages = [StageRule(at_least=1, value="lead"), StageRule(at_least=30, value="marketingqualifiedlead")]
    rules = scorer(PRICING, DEMO, stages=stages, decay=Decay(points=-5, every_days=30))
    events = [visit("/pricing", 0), ev("form.submitted", 1, form="demo-request")]
    result = rules.score(SAAS, events, T0 + timedelta(days=400))
    assert result.total == 0
    assert result.stage == "marketingqualifiedlead"


def test_replayed_events_count_once():
    events = [visit("/pricing", 1), ev("form.submitted", 2, form="demo-request")]
    rules = scorer(PRICING, DEMO)
    assert rules.score(SAAS, events + events + [events[0]], NOW) == rules.score(SAAS, events, NOW)


def test_event_order_does_not_matter():
    rules = scorer(PRICING, DEMO, CAREERS, PRICING.model_copy(update={"name": "repeat", "window": Window(
        count=2, days=7)}), resets=[Reset(event="unsubscribed")], decay=Decay(points=-5, every_days=30))
    events = [visit(url, day, n) for n, (url, day) in enumerate(
        [("/pricing", 1), ("/careers", 2), ("/pricing", 3), ("/pricing", 50), ("/careers", 90)])]
    events += [ev("unsubscribed", 20), ev("form.submitted", 21, form="demo-request")]
    expected = rules.score(SAAS, events, T0 + timedelta(days=120))
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        assert rules.score(SAAS, shuffled, T0 + timedelta(days=120)) == expected


def test_events_after_now_are_not_counted_yet():
    result = scorer(PRICING).score(SAAS, [visit("/pricing", 1), visit("/pricing", 30)], NOW)
    assert result.intent == 10


def test_contributions_sum_to_the_total():
    rules = scorer(PRICING, DEMO, CAREERS, FIT_SAAS, decay=Decay(points=-5, every_days=30),
                   resets=[Reset(event="unsubscribed")])
    events = [ev("contact.created", 0), visit("/pricing", 1), visit("/careers", 2), ev("unsubscribed", 5),
              ev("form.submitted", 6, form="demo-request")]
    result = rules.score(SAAS, events, T0 + timedelta(days=100))
    assert sum(c.points for c in result.contributions) == result.total


def test_fast_path_rows_score_like_events():
    events = [visit("/pricing", 1), ev("form.submitted", 2, form="demo-request")]
    rows = [(e.id, e.type, e.occurred_at, e.source, e.data) for e in events]
    rules = scorer(PRICING, DEMO)
    assert rules.score_rows(SAAS, rows, NOW) == rules.score(SAAS, events, NOW)
