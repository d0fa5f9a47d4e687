"""Enrolment: triggers with conditions, once per contact, re-enrolment after N days, silence."""

from datetime import UTC, datetime, timedelta

import pytest

from threadline.rules.conditions import RuleError
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import EmailStep, Enrollment, SequenceSettings, compile_sequences
from threadline.sync.events.records import Event, event_id

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
ADA = ContactFacts("c1", {"email": "ada@acme.io", "industry": "SaaS"})


def event(type_, at=NOW, contact="c1", **data):
    return Event(id=event_id(type_, contact, at.isoformat()), type=type_, contact_id=contact, occurred_at=at,
                 source="api", data=data)


def sequence(**overrides):
    base = {"name": "welcome", "enroll_on": "form.submitted", "steps": [EmailStep(subject="Hi", body="Hello")]}
    return SequenceSettings(**{**base, **overrides})


def test_trigger_with_conditions_enrols():
    sequencer = compile_sequences([sequence(enroll_when={"event.form": "demo", "contact.industry": "saas"})])
    created = sequencer.enrollments_for(ADA, [event("form.submitted", form="demo")], [], {}, NOW)
    assert created == [Enrollment("welcome", "c1", NOW, generation=1)]
    assert sequencer.enrollments_for(ADA, [event("form.submitted", form="newsletter")], [], {}, NOW) == []
    assert sequencer.enrollments_for(ADA, [event("page.visited")], [], {}, NOW) == []


def test_score_conditions_are_read():
    sequencer = compile_sequences([sequence(enroll_when={"score.intent": {">=": 25}})])
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [], {"intent": 10}, NOW) == []
    assert len(sequencer.enrollments_for(ADA, [event("form.submitted")], [], {"intent": 25}, NOW)) == 1


def test_once_per_contact_never_enrols_twice():
    sequencer = compile_sequences([sequence()])
    done = Enrollment("welcome", "c1", NOW - timedelta(days=400), status="completed", step=1)
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [done], {}, NOW) == []


def test_an_open_enrollment_blocks_a_second_one_even_without_once_per_contact():
    sequencer = compile_sequences([sequence(once_per_contact=False)])
    active = Enrollment("welcome", "c1", NOW - timedelta(days=1))
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [active], {}, NOW) == []
    finished = Enrollment("welcome", "c1", NOW - timedelta(days=1), status="exited", exit_reason="replied")
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [finished], {}, NOW)[0].generation == 2


def test_reenrolment_after_n_days_gets_the_next_generation():
    sequencer = compile_sequences([sequence(reenroll_after_days=30)])
    earlier = Enrollment("welcome", "c1", NOW - timedelta(days=29), status="completed", step=1)
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [earlier], {}, NOW) == []
    earlier = Enrollment("welcome", "c1", NOW - timedelta(days=30), status="completed", step=1)
    assert sequencer.enrollments_for(ADA, [event("form.submitted")], [earlier], {}, NOW)[0].generation == 2


def test_thirty_days_silent_enrols_once_per_silent_period():
    sequencer = compile_sequences([sequence(name="re-engage", enroll_on="contact.silent", silent_days=30)])
    history = [event("email.sent", NOW - timedelta(days=31))]
    assert sequencer.silence_events("c1", [event("email.sent", NOW - timedelta(days=29))], NOW) == []
    silent = sequencer.silence_events("c1", history, NOW)
    assert [e.type for e in silent] == ["contact.silent"]
    assert sequencer.silence_events("c1", history, NOW + timedelta(days=3)) == silent   # same id: same period
    assert len(sequencer.enrollments_for(ADA, silent, [], {}, NOW)) == 1


def test_invalid_sequences_list_every_problem_with_its_path():
    bad = [
        sequence(enroll_on="reply.recieved", steps=[]),
        sequence(name="two", enroll_when={"contact.industy": "SaaS", "event.x": {"bigger": 1}},
                 steps=[EmailStep(subject="Hi {{ contcat.name }}", body="{% if %}")]),
        sequence(name="two", enroll_on="contact.silent"),
    ]
    with pytest.raises(RuleError) as caught:
        compile_sequences(bad, known_fields={"email", "industry", "lifecyclestage", "timezone"})
    problems = "\n".join(caught.value.problems)
    assert "rules.sequences[0].enroll_on: unknown event type 'reply.recieved' (did you mean 'reply.received'?)" \
        in problems
    assert "rules.sequences[0].steps: a sequence needs at least one step" in problems
    assert "rules.sequences[1].enroll_when.contact.industy: unknown contact field" in problems
    assert "rules.sequences[1].enroll_when.event.x.bigger: unknown operator" in problems
    assert "rules.sequences[1].steps[0].subject: unknown token 'contcat'" in problems
    assert "rules.sequences[1].steps[0].body: syntax error" in problems
    assert "rules.sequences[2].name: duplicate sequence name 'two'" in problems
    assert "rules.sequences[2].silent_days: required with enroll_on: contact.silent" in problems


def test_custom_event_types_are_strict_when_the_list_is_given():
    with pytest.raises(RuleError, match="unknown event type 'page.viewed'"):
        compile_sequences([sequence(enroll_on="page.viewed")], custom_events={"page.visited"})
    compile_sequences([sequence(enroll_on="page.visited")], custom_events={"page.visited"})


def test_a_trigger_older_than_max_trigger_age_enrols_no_one() -> None:
    """The first sync mirrors history: old contact.created events must not enrol every contact today."""
    sequencer = compile_sequences([SequenceSettings(
        name="welcome", enroll_on="contact.created", max_trigger_age_hours=24,
        steps=[EmailStep(subject="Hi", body="Hello")])])
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    contact = ContactFacts(id="c1", fields={"email": "jane@acme.example"})
    old = Event(id="e-old", type="contact.created", contact_id="c1", occurred_at=now - timedelta(days=400),
                source="crm")
    fresh = Event(id="e-new", type="contact.created", contact_id="c1", occurred_at=now - timedelta(hours=2),
                  source="crm")
    assert sequencer.enrollments_for(contact, [old], [], {}, now) == []
    assert [e.sequence for e in sequencer.enrollments_for(contact, [fresh], [], {}, now)] == ["welcome"]
