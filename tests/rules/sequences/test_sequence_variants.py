"""Step-level A/B tests (pure layer): a deterministic weighted choice recorded at enrolment, what a variant
changes, and ending a test with `winner` without moving enrolments already on a variant."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from threadline.rules.conditions import RuleError
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import Enrollment, SequenceSettings, compile_sequences
from threadline.rules.sequences.ab_plan import count_waiting, previews
from threadline.rules.sequences.variants import pick
from threadline.sync.events.records import Event, event_id

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ANY_TIME = {"start": "00:00", "end": "23:59", "days": [0, 1, 2, 3, 4, 5, 6]}
SUBJECT_TEST = [{"name": "benefit", "subject": "Cut onboarding time in half, {{ contact.firstname }}"},
                {"name": "question", "subject": "{{ contact.firstname }}, how long does onboarding take you?"}]
DELAY_TEST = [{"name": "two-days", "delay": {"days": 2}}, {"name": "three-days", "delay": {"days": 3}}]


def sequence(first=None, second=None, winner=None):
    steps = [{"kind": "email", "subject": "Hello", "body": "Hi {{ contact.firstname }}", **(first or {})},
             {"kind": "email", "subject": "Re: Hello", "body": "Following up", "delay": {"days": 1}, **(second or {})}]
    if winner:
        steps[0]["winner"] = winner
    return SequenceSettings(name="ab", enroll_on="form.submitted", window=ANY_TIME, steps=steps)


def enrol(rules, contact_id):
    facts = ContactFacts(contact_id, {"firstname": "Ada"})
    trigger = Event(id=event_id("form.submitted", contact_id), type="form.submitted", contact_id=contact_id,
                    occurred_at=NOW, source="web", data={})
    [enrollment] = rules.enrollments_for(facts, [trigger], [], {}, NOW)
    return enrollment, facts


def test_the_choice_is_deterministic_weighted_and_recorded_at_enrolment():
    rules = compile_sequences([sequence({"variants": SUBJECT_TEST}, {"variants": DELAY_TEST})])
    chosen = Counter()
    for n in range(4000):
        enrollment, _ = enrol(rules, f"c{n}")
        assert dict(enrollment.variants) == {0: pick(rules.settings("ab").steps[0].variants, "ab", f"c{n}", 1, 0),
                                             1: pick(rules.settings("ab").steps[1].variants, "ab", f"c{n}", 1, 1)}
        chosen[enrollment.variants[0][1]] += 1
    assert enrol(rules, "c7")[0].variants == enrol(rules, "c7")[0].variants        # a replay picks the same
    assert abs(chosen["benefit"] - 2000) < 150          # 50/50 within ~5 standard deviations

    first = rules.settings("ab").steps[0].variants
    weighted = [variant.model_copy(update={"weight": w}) for variant, w in zip(first, (3, 1), strict=True)]
    share = sum(pick(weighted, "ab", f"c{n}", 1, 0) == "benefit" for n in range(4000)) / 4000
    assert 0.72 < share < 0.78


def test_a_variant_changes_the_subject_or_the_delay_and_the_rest_is_the_steps_own():
    rules = compile_sequences([sequence({"variants": SUBJECT_TEST}, {"variants": DELAY_TEST})])
    for n in range(20):
        enrollment, facts = enrol(rules, f"c{n}")
        due = rules.due_step(enrollment, facts, NOW)
        assert due is not None and due.variant == dict(enrollment.variants)[0]
        assert due.subject.startswith("Cut") if due.variant == "benefit" else due.subject.startswith("Ada, how")
        assert due.body == "Hi Ada"
        after = rules.record_step(enrollment, 0, NOW)
        days = 2 if dict(enrollment.variants)[1] == "two-days" else 3
        assert rules.due_at(after, facts) == NOW + timedelta(days=days)


def test_ending_a_test_keeps_recorded_variants_and_gives_new_enrolments_the_winner():
    running = compile_sequences([sequence({"variants": SUBJECT_TEST})])
    on_question = next(e for e, _ in (enrol(running, f"c{n}") for n in range(50)) if e.variants[0][1] == "question")
    ended = compile_sequences([sequence({"variants": SUBJECT_TEST}, winner="benefit")])
    assert ended.due_step(on_question, ContactFacts(on_question.contact_id, {"firstname": "Ada"}), NOW).variant \
        == "question"
    assert {enrol(ended, f"n{n}")[0].variants[0][1] for n in range(50)} == {"benefit"}


def test_an_enrolment_made_before_the_test_was_added_gets_its_variant_when_it_reaches_the_step():
    rules = compile_sequences([sequence({"variants": SUBJECT_TEST}, {"variants": DELAY_TEST})])
    facts = ContactFacts("c1", {"firstname": "Ada"})
    old = Enrollment("ab", "c1", NOW - timedelta(days=1))
    routed, _ = rules.route(old, facts, {}, [], NOW)
    steps = rules.settings("ab").steps
    assert dict(routed.variants) == {0: pick(steps[0].variants, "ab", "c1", 1, 0),
                                     1: pick(steps[1].variants, "ab", "c1", 1, 1)}
    # One already past the first tested step gets a variant only for the step ahead: its first email went out
    # before the test existed, and must not count for a variant in the report.
    past, _ = rules.route(replace(old, step=1, last_step_at=NOW - timedelta(hours=1)), facts, {}, [], NOW)
    assert dict(past.variants) == {1: pick(steps[1].variants, "ab", "c1", 1, 1)}


def test_a_variant_removed_from_the_config_falls_back_to_the_steps_own_content():
    rules = compile_sequences([sequence({"variants": [SUBJECT_TEST[0], {"name": "other", "subject": "X"}]})])
    orphan = Enrollment("ab", "c1", NOW, variants=((0, "question"),))      # "question" is no longer configured
    due = rules.due_step(orphan, ContactFacts("c1", {"firstname": "Ada"}), NOW)
    assert due is not None and due.variant == "question" and due.subject == "Hello"


@pytest.mark.parametrize(("first", "winner", "expected"), [
    ({"variants": SUBJECT_TEST[:1]}, None, "steps[0].variants: an A/B test needs at least two variants"),
    ({"variants": [SUBJECT_TEST[0], SUBJECT_TEST[0]]}, None, "steps[0].variants[1].name: duplicate variant name"),
    ({"variants": [SUBJECT_TEST[0], {"name": "empty"}]}, None, "steps[0].variants[1]: changes nothing"),
    ({"variants": SUBJECT_TEST}, "curiosity", "steps[0].winner: no variant named 'curiosity'"),
    ({"variants": [SUBJECT_TEST[0], {"name": "bad", "subject": "{{ contcat.x }}"}]}, None,
     "steps[0].variants[1].subject"),
])
def test_validation_names_the_path_of_a_bad_test(first, winner, expected):
    with pytest.raises(RuleError) as raised:
        compile_sequences([sequence(first, winner=winner)])
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems


def test_plan_counts_only_the_open_enrolments_that_can_still_reach_a_tested_step():
    # ask -> (a pricing visitor) offer, tested; everyone else: nudge, then end. An enrolment at nudge is on the
    # other arm and will never run the offer; one at ask may still go either way.
    steps = [{"kind": "email", "name": "ask", "subject": "Hello", "body": "Hi",
              "branches": [{"goto": "offer", "seen": {"event.type": "page.visited"}}]},
             {"kind": "email", "name": "nudge", "subject": "Re: Hello", "body": "Bump", "then": "end"},
             {"kind": "email", "name": "offer", "subject": "An offer", "body": "10 % off", "variants": SUBJECT_TEST},
             {"kind": "email", "name": "last", "subject": "Last", "body": "Bye"}]
    settings = SequenceSettings(name="split", enroll_on="form.submitted", window=ANY_TIME, steps=steps)
    found = previews([settings])
    [test] = found.values()
    assert test.reached_from == frozenset({0, 2})
    for step, variants in ((0, {}), (1, {}), (1, {}), (2, {2: "question"}), (3, {2: "benefit"})):
        count_waiting(found, "split", step, variants)
    assert test.waiting == Counter({"": 1, "question": 1})
    assert "2 open enrolments can still run it" in test.text()
