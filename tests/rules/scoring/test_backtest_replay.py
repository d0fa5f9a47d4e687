"""Backtest replay of one contact, with numbers worked out by hand: caps, windows, resets and decay decide
when the total first rises to the MQL threshold inside the window, and what the outcomes afterwards are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring import ScoringSettings, compile_scoring
from threadline.rules.scoring.backtest import (
    Backtest,
    Bands,
    ContactReplay,
    OutcomeRules,
    Window,
    replay_contact,
)
from threadline.rules.scoring.backtest.bands import bin_label
from threadline.rules.scoring.backtest.facts_over_time import facts_over_time
from threadline.rules.scoring.compiled import EventRow

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
CONTACT = ContactFacts(id="c1", fields={"industry": "SaaS"})
TIERS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "mql", "min": 50}]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def ev(type_: str, n: float, **data: Any) -> EventRow:
    return (f"{type_}-{n}-{sorted(data.items())}", type_, day(n), "api", data)


def replay(scoring: dict[str, Any], events: list[EventRow], start: float, end: float) -> ContactReplay:
    scorer = compile_scoring(ScoringSettings.model_validate(
        {"tiers": TIERS, "custom_events": ["page.visited", "form.submitted"], **scoring}))
    return replay_contact(scorer, CONTACT, events, Window(day(start), day(end)), 50)


def test_a_capped_rule_reaches_the_threshold_at_the_event_that_makes_it() -> None:
    rules = {"rules": [{"name": "reply", "event": "reply.received", "points": 20, "cap": 60}]}
    events = [ev("reply.received", n) for n in (1, 2, 3, 4, 5)]       # 20, 40, 60, 60 (capped), 60
    assert replay(rules, events, 0, 10) == ContactReplay(60, "mql", day(3), False)
    assert replay(rules, events, 3.5, 10) == ContactReplay(60, "mql", None, True)    # crossed before the window


def test_a_window_rule_fires_on_the_second_visit_within_its_days() -> None:
    rules = {"rules": [{"name": "pricing", "event": "page.visited", "points": 50, "window": {"count": 2, "days": 7}}]}
    events = [ev("page.visited", n) for n in (1, 10, 12)]              # 1 and 10 are 9 days apart: fires at 12
    assert replay(rules, events, 0, 20) == ContactReplay(50, "mql", day(12), False)


def test_decay_below_the_threshold_then_a_new_rise_counts_as_becoming_mql_in_the_window() -> None:
    rules = {"rules": [{"name": "demo", "event": "form.submitted", "points": 50},
                       {"name": "visit", "event": "page.visited", "points": 5}],
             "decay": {"points": -5, "every_days": 30}}
    # Day 0: 50 (an MQL before the window). Day 30: decay to 45. Day 40: a visit, 50 again: a new MQL.
    events = [ev("form.submitted", 0), ev("page.visited", 40)]
    assert replay(rules, events, 10, 50) == ContactReplay(50, "mql", day(40), True)
    # A visit on the very day the decay falls due: decay and visit together, the total never shows 45.
    assert replay(rules, [ev("form.submitted", 0), ev("page.visited", 30)], 10, 50) == ContactReplay(
        50, "mql", None, True)


def test_the_score_at_the_start_includes_decay_due_before_it() -> None:
    rules = {"rules": [{"name": "demo", "event": "form.submitted", "points": 50},
                       {"name": "visit", "event": "page.visited", "points": 5}],
             "decay": {"points": -5, "every_days": 30}}
    # 50 on day 0, 45 from day 30: not an MQL at the start (day 35); the visit on day 36 makes it one.
    result = replay(rules, [ev("form.submitted", 0), ev("page.visited", 36)], 35, 50)
    assert result == ContactReplay(50, "mql", day(36), False)


def test_a_reset_zeroes_the_score_and_later_events_count_again() -> None:
    rules: dict[str, Any] = {"rules": [{"name": "reply", "event": "reply.received", "points": 30, "cap": 40},
                       {"name": "meeting", "event": "meeting.booked", "points": 50}],
             "resets": [{"event": "unsubscribed"}]}
    events = [ev("reply.received", 1), ev("reply.received", 2), ev("unsubscribed", 3), ev("reply.received", 4),
              ev("reply.received", 5)]
    # 30, 40 (capped), 0 (reset), 30 (cap cleared), 40: never 50.
    assert replay(rules, events, 0, 10) == ContactReplay(40, "warm", None, False)
    rules["rules"][0]["cap"] = 60
    # 30, 60 (MQL on day 2), 0, 30, 60 (MQL again on day 5, but day 2 was the first in the window)
    assert replay(rules, events, 0, 10).mql_at == day(2)
    assert replay(rules, events, 2.5, 10) == ContactReplay(60, "mql", day(5), True)


def test_events_after_the_end_are_ignored_and_events_before_the_start_build_the_score() -> None:
    rules = {"rules": [{"name": "reply", "event": "reply.received", "points": 25}]}
    events = [ev("reply.received", 1), ev("reply.received", 8), ev("reply.received", 30)]
    assert replay(rules, events, 5, 20) == ContactReplay(50, "mql", day(8), False)   # 25 before + 25 in the window


def test_outcomes_count_within_the_follow_up_days_after_the_mql_moment_and_not_after_the_end() -> None:
    rules = OutcomeRules(stage_field="lifecyclestage", days=30)
    rows = [ev("meeting.booked", 10), ev("contact.updated", 20, field="num_associated_deals", old=None, new="1"),
            ev("contact.updated", 45, field="lifecyclestage", old="lead", new="opportunity"),
            ev("contact.updated", 12, field="num_associated_deals", old="1", new="2"),     # not a first deal
            ev("deal.created", 5)]                                                          # before the MQL
    assert rules.after(rows, day(10), day(100)) == {"meeting", "deal"}
    assert rules.after(rows, day(16), day(100)) == {"deal", "stage"}
    assert rules.after(rows, day(16), day(30)) == {"deal"}                     # the stage came after the end
    salesforce = OutcomeRules(stage_field="Status", stages=("Qualified",))
    assert salesforce.after([ev("contact.updated", 1, field="Status", new="qualified")], day(0), day(9)) == {"stage"}


def test_bands_follow_the_tiers_or_ten_points() -> None:
    tiers = Bands.of(ScoringSettings.model_validate({"tiers": [{"name": "warm", "min": 20}, {"name": "mql", "min": 50}]}))
    assert [tiers.name_of(t) for t in (0, 19, 20, 49, 50, 500)] == ["below warm", "below warm", "warm", "warm",
                                                                     "mql", "mql"]
    assert tiers.order(set()) == ["below warm", "warm", "mql"]
    plain = Bands.of(ScoringSettings())
    assert [plain.name_of(t) for t in (0, 9, 10, 125)] == ["0-9", "0-9", "10-19", "120-129"]
    assert plain.order({"120-129", "0-9", "10-19"}) == ["0-9", "10-19", "120-129"] and bin_label(3) == "30-39"


def test_a_backtest_counts_both_rule_sets_side_by_side_with_fixed_size_counters() -> None:
    current = compile_scoring(ScoringSettings.model_validate(
        {"tiers": TIERS, "rules": [{"name": "reply", "event": "reply.received", "points": 20}]}))
    proposed = compile_scoring(ScoringSettings.model_validate(
        {"tiers": TIERS, "rules": [{"name": "reply", "event": "reply.received", "points": 30}]}))
    backtest = Backtest(proposed, current, Window(day(0), day(21)), OutcomeRules(), detail=1)
    for n in range(5):               # contact n replies n times on days 1..n, and books a meeting on day 10
        events = [ev("reply.received", d) for d in range(1, n + 1)] + [ev("meeting.booked", 10)]
        backtest.add(ContactFacts(id=f"c{n}", fields={}), events)
    cur, new = backtest.current, backtest.proposed
    assert cur is not None
    # current totals 0, 20, 40, 60, 80 -> MQL: c3 (day 3), c4 (day 3); proposed 0, 30, 60, 90, 120 -> c2..c4 (day 2)
    assert (cur.mqls, new.mqls) == (2, 3)
    assert (dict(cur.mqls_by_week), dict(new.mqls_by_week)) == ({0: 2}, {0: 3})
    assert dict(new.histogram) == {0: 1, 3: 1, 6: 1, 9: 1, 12: 1}
    assert dict(cur.tiers) == {"cold": 1, "warm": 2, "mql": 2} and dict(new.tiers) == {"cold": 1, "warm": 1, "mql": 3}
    assert backtest.changes.total == 1 and backtest.changes.moves == {("warm", "mql"): 1}   # c2
    assert [c.contact_id for c in backtest.changes.first] == ["c2"]
    assert (backtest.changes.mql_both, backtest.changes.mql_only_current, backtest.changes.mql_only_proposed) == (
        2, 0, 1)
    mql_band = dict(new.band_rows())["mql"]
    assert (mql_band.contacts, mql_band.mqls, mql_band.outcomes["meeting"], mql_band.rate()) == (3, 3, 3, 1.0)
    assert dict(new.band_rows())["cold"].rate() is None


def test_without_a_threshold_only_scores_are_counted() -> None:
    scorer = compile_scoring(ScoringSettings.model_validate(
        {"rules": [{"name": "reply", "event": "reply.received", "points": 20}]}))
    backtest = Backtest(scorer, None, Window(day(0), day(9)), OutcomeRules())
    backtest.add(CONTACT, [ev("reply.received", 1)])
    assert backtest.proposed.threshold is None and backtest.proposed.mqls == 0
    assert dict(backtest.proposed.histogram) == {2: 1} and backtest.current is None


def test_totals_over_time_equal_scoring_at_each_of_those_moments() -> None:
    """The replay's totals are exactly what `score_rows(now=moment)` gives: at each moment with events, just
    before it, and at the marks; and its final result is `score_rows`' (points model, random histories)."""
    import random
    from pathlib import Path

    import yaml
    model = yaml.safe_load((Path(__file__).resolve().parents[3] / "config/rules/points-model.yaml").read_text())
    scorer = compile_scoring(ScoringSettings.model_validate(model["scoring"]))
    kinds = [("page.visited", {"url": "/pricing"}), ("page.visited", {"url": "/case-studies/x"}),
             ("form.submitted", {"form": "demo"}), ("reply.received", {}), ("unsubscribed", {}),
             ("contact.created", {}), ("meeting.booked", {}), ("page.visited", {"url": "/careers"})]
    for seed in range(30):
        rng = random.Random(seed)
        picks = [(rng.choice(kinds), rng.choice(range(0, 240)) / 2) for _ in range(rng.randint(0, 12))]
        events = [ev(type_, at, **data) for (type_, data), at in picks]
        marks = [day(rng.uniform(0, 120)) for _ in range(2)]
        result, totals = scorer.score_over_time(CONTACT, events, day(120), marks=marks)
        assert result.total == scorer.score_rows(CONTACT, events, day(120)).total
        assert [m for m, _ in totals] == sorted(m for m, _ in totals)
        for moment, total in totals:
            assert total == scorer.score_rows(CONTACT, events, moment).total, (seed, moment)
        assert set(marks) <= {m for m, _ in totals}


def test_weeks_of_the_window_count_from_its_start_and_its_end_falls_in_the_last() -> None:
    window = Window(day(0), day(56))
    assert window.weeks == 8 and Window(day(0), day(90)).weeks == 13
    assert [window.week_of(day(n)) for n in (0.5, 6.9, 7, 55, 56)] == [0, 0, 1, 7, 7]


FIT = {"rules": [{"name": "saas", "event": "page.visited", "where": {"contact.industry": "SaaS"}, "points": 20},
                 {"name": "demo", "event": "form.submitted", "points": 10}]}


def test_a_field_that_arrived_later_counts_from_then_for_the_earlier_events_too() -> None:
    # Three visits on days 1-3 while the industry was unknown; enrichment sets it on day 10, when the daemon's
    # rescore counts all three (60): the contact became an MQL on day 10, not on day 3 as today's facts say.
    events = [ev("page.visited", n) for n in (1, 2, 3)]
    events.append(("industry", "contact.updated", day(10), "crm", {"field": "industry", "old": None, "new": "SaaS"}))
    assert replay(FIT, events, 0, 20) == ContactReplay(60, "mql", day(10), False)
    assert replay(FIT, events[:3], 0, 20) == ContactReplay(60, "mql", day(3), False)   # no change: day 3


def test_a_field_that_changed_away_takes_the_points_back_and_a_later_return_is_a_new_crossing() -> None:
    events = [ev("page.visited", n) for n in (1, 2, 3)]
    events += [("away", "contact.updated", day(5), "crm", {"field": "industry", "old": "SaaS", "new": "Retail"}),
               ("back", "contact.updated", day(8), "crm", {"field": "industry", "old": "Retail", "new": "SaaS"})]
    # SaaS until day 5 (an MQL at day 3), Retail from day 5 (0), SaaS again from day 8 (60): the first rise in a
    # window from day 4 is day 8.
    assert replay(FIT, events, 4, 20) == ContactReplay(60, "mql", day(8), True)


def test_changes_after_the_window_and_to_fields_no_rule_reads_change_nothing() -> None:
    events = [ev("page.visited", n) for n in (1, 2, 3)]
    later = [("late", "contact.updated", day(30), "crm", {"field": "industry", "old": "Retail", "new": "SaaS"}),
             ("stage", "contact.updated", day(2), "crm", {"field": "lifecyclestage", "old": None, "new": "lead"})]
    # Industry was Retail until day 30, after the window's end (day 20): nothing counted inside the window.
    assert replay(FIT, events + later[:1], 0, 20) == ContactReplay(0, "cold", None, False)
    assert replay(FIT, events + later[1:], 0, 20) == ContactReplay(60, "mql", day(3), False)


def test_facts_over_time_are_rebuilt_backwards_from_the_current_ones() -> None:
    contact = ContactFacts("c1", {"industry": "SaaS", "country": "DE", "owner_id": "7"})
    rows = [("a", "contact.updated", day(2), "crm", {"field": "industry", "old": None, "new": "Retail"}),
            ("b", "contact.updated", day(6), "crm", {"field": "industry", "old": "Retail", "new": "SaaS"}),
            ("c", "owner.changed", day(6), "crm", {"old": "3", "new": "7"}),
            ("d", "contact.updated", day(7), "crm", {"field": "country", "old": "FR", "new": "DE"})]
    stretches = facts_over_time(contact, rows, frozenset({"industry", "owner_id"}))
    assert [(at, dict(facts.fields)) for at, facts in stretches] == [
        (None, {"industry": None, "country": "DE", "owner_id": "3"}),
        (day(2), {"industry": "Retail", "country": "DE", "owner_id": "3"}),
        (day(6), {"industry": "SaaS", "country": "DE", "owner_id": "7"})]
    assert facts_over_time(contact, rows, frozenset({"email"})) == [(None, contact)]
