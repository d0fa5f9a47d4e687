"""Properties of scoring over random event streams: sums hold, floors hold, order and repeats do not matter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring import (
    Decay,
    Reset,
    ScoringRule,
    ScoringSettings,
    Tier,
    Window,
    compile_scoring,
)
from threadline.sync.events.records import Event, event_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=400)
CONTACT = ContactFacts("c1", {"industry": "SaaS", "numberofemployees": "500"})
SCORER = compile_scoring(ScoringSettings(
    custom_events=["page.visited", "form.submitted"],
    rules=[
        ScoringRule(name="pricing", event="page.visited", where={"event.url": {"contains": "/pricing"}}, points=10,
                    cap=30),
        ScoringRule(name="pricing repeat", event="page.visited", where={"event.url": {"contains": "/pricing"}},
                    points=10, window=Window(count=2, days=7)),
        ScoringRule(name="careers", event="page.visited", where={"event.url": {"contains": "/careers"}},
                    points=-10),
        ScoringRule(name="demo", event="form.submitted", points=25),
        ScoringRule(name="fit", event="contact.created", dimension="fit", points=20,
                    where={"contact.industry": "SaaS"}),
        ScoringRule(name="student", event="contact.updated", dimension="fit", points=-15),
    ],
    decay=Decay(points=-5, every_days=30),
    resets=[Reset(event="unsubscribed")],
    tiers=[Tier(name="educational", min=1), Tier(name="solution", min=26), Tier(name="mql", min=71)],
))

KINDS = [("page.visited", {"url": "/pricing"}), ("page.visited", {"url": "/careers"}),
         ("page.visited", {"url": "/blog"}), ("form.submitted", {}), ("contact.created", {}),
         ("contact.updated", {"field": "jobtitle"}), ("unsubscribed", {}), ("reply.received", {})]


@st.composite
def streams(draw) -> list[Event]:
    picks = draw(st.lists(st.tuples(st.integers(0, len(KINDS) - 1), st.integers(0, 400 * 24)), max_size=40))
    return [Event(id=event_id(KINDS[kind][0], str(n)), type=KINDS[kind][0], contact_id="c1",
                  occurred_at=T0 + timedelta(hours=hour), source="api", data=KINDS[kind][1])
            for n, (kind, hour) in enumerate(picks)]


@settings(max_examples=200, deadline=None)
@given(streams(), st.randoms(use_true_random=False))
def test_scores_add_up_stay_non_negative_and_ignore_order_and_repeats(events, rnd):
    result = SCORER.score(CONTACT, events, NOW)
    assert result.total == result.fit + result.intent
    assert result.fit >= 0 and result.intent >= 0
    assert sum(c.points for c in result.contributions) == result.total
    shuffled = events + events[: len(events) // 2]
    rnd.shuffle(shuffled)
    assert SCORER.score(CONTACT, shuffled, NOW) == result
