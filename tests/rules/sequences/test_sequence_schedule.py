"""Scheduling: step delays, sending windows in the contact's zone (DST-correct), stable keys, rendering."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import (
    Delay,
    EmailStep,
    Enrollment,
    SendingWindow,
    SequenceSettings,
    TaskStep,
    compile_sequences,
)
from threadline.rules.sequences.templates.render import TemplateError

WEEKDAYS_9_TO_5 = SendingWindow(start="09:00", end="17:00")


def sequencer_with(*delays, window=WEEKDAYS_9_TO_5, owner_timezones=None):
    steps = [EmailStep(subject="Step {{ step }} for {{ contact.firstname }}", body="Hi {{ owner.name }}",
                       delay=delay) for delay in delays]
    settings = SequenceSettings(name="seq", enroll_on="form.submitted", steps=steps, window=window)
    return compile_sequences([settings], owner_timezones=owner_timezones)


def contact(zone=None, **fields):
    return ContactFacts("c1", {"firstname": "Ada", **({"timezone": zone} if zone else {}), **fields})


def enrolled(at, **changes):
    return replace(Enrollment("seq", "c1", at), **changes)


def test_first_step_counts_from_enrolment_inside_the_window():
    sequencer = sequencer_with(Delay(hours=2))
    monday_10 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    assert sequencer.due_at(enrolled(monday_10), contact()) == datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


def test_a_delay_ending_at_night_waits_for_the_next_window_opening():
    sequencer = sequencer_with(Delay(hours=8))
    monday_10 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    assert sequencer.due_at(enrolled(monday_10), contact()) == datetime(2024, 5, 7, 9, 0, tzinfo=UTC)


def test_days_delay_landing_on_a_weekend_moves_to_monday():
    sequencer = sequencer_with(Delay(), Delay(days=1))
    friday_10 = datetime(2024, 5, 10, 10, 0, tzinfo=UTC)
    step_two = enrolled(friday_10, step=1, last_step_at=friday_10)
    assert sequencer.due_at(step_two, contact()) == datetime(2024, 5, 13, 9, 0, tzinfo=UTC)


def test_business_days_skip_weekends_and_holidays_keeping_the_time_of_day():
    window = SendingWindow(start="09:00", end="17:00", holidays=[date(2024, 5, 13)])
    sequencer = sequencer_with(Delay(), Delay(business_days=2), window=window)
    friday_11 = datetime(2024, 5, 10, 11, 0, tzinfo=UTC)
    step_two = enrolled(friday_11, step=1, last_step_at=friday_11)
    assert sequencer.due_at(step_two, contact()) == datetime(2024, 5, 15, 11, 0, tzinfo=UTC)   # Tue 14 is day 1


def test_window_is_read_in_the_contacts_time_zone():
    sequencer = sequencer_with(Delay())
    monday_8_utc = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)       # 04:00 in New York
    due = sequencer.due_at(enrolled(monday_8_utc), contact("America/New_York"))
    assert due == datetime(2024, 5, 6, 13, 0, tzinfo=UTC)       # 09:00 EDT


def test_without_a_valid_contact_zone_the_owners_zone_then_the_default_is_used():
    sequencer = sequencer_with(Delay(), owner_timezones={"7": "Asia/Tokyo"})
    monday_1_utc = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)       # 10:00 in Tokyo
    assert sequencer.due_at(enrolled(monday_1_utc), contact("Mars/Olympus", owner_id="7")) == monday_1_utc
    assert sequencer.due_at(enrolled(monday_1_utc), contact("Mars/Olympus")) == \
        datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def test_berlin_window_stays_nine_local_across_the_october_change():
    sequencer = sequencer_with(Delay(), Delay(days=3))
    berlin = contact("Europe/Berlin")
    thursday = datetime(2024, 10, 24, 6, 0, tzinfo=UTC)         # 08:00 CEST
    assert sequencer.due_at(enrolled(thursday), berlin) == datetime(2024, 10, 24, 7, 0, tzinfo=UTC)   # 09:00 CEST
    sent = datetime(2024, 10, 25, 7, 0, tzinfo=UTC)             # Friday 09:00 CEST
    due = sequencer.due_at(enrolled(thursday, step=1, last_step_at=sent), berlin)
    assert due == datetime(2024, 10, 28, 8, 0, tzinfo=UTC)      # Monday 09:00 CET (clocks went back Sunday)


def test_new_york_business_day_keeps_nine_local_across_the_march_change():
    sequencer = sequencer_with(Delay(), Delay(business_days=1))
    new_york = contact("America/New_York")
    friday_9_est = datetime(2024, 3, 8, 14, 0, tzinfo=UTC)
    due = sequencer.due_at(enrolled(friday_9_est, step=1, last_step_at=friday_9_est), new_york)
    assert due == datetime(2024, 3, 11, 13, 0, tzinfo=UTC)      # Monday 09:00 EDT


def test_due_step_renders_and_is_none_until_due_or_when_not_active():
    sequencer = sequencer_with(Delay(hours=1), Delay(days=2))
    start = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    enrollment = enrolled(start)
    owner = {"name": "Dana"}
    assert sequencer.due_step(enrollment, contact(), start + timedelta(minutes=59), owner=owner) is None
    due = sequencer.due_step(enrollment, contact(), start + timedelta(hours=1), owner=owner)
    assert (due.step_index, due.kind, due.subject, due.body, due.thread_reply) == (0, "email", "Step 1 for Ada",
                                                                                 "Hi Dana", False)
    later = sequencer.due_step(enrolled(start, step=1, last_step_at=start), contact(), start + timedelta(days=3),
                               owner=owner)
    assert later.thread_reply is True
    assert sequencer.due_step(enrolled(start, status="paused"), contact(), start + timedelta(days=9)) is None
    assert sequencer.due_step(enrolled(start, step=2), contact(), start + timedelta(days=9)) is None


def test_a_missing_template_token_holds_the_step_with_an_error():
    sequencer = sequencer_with(Delay())
    start = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    with pytest.raises(TemplateError):
        sequencer.due_step(enrolled(start), contact(), start)   # no owner given: owner.name is undefined


def test_keys_are_stable_across_re_evaluation_and_differ_per_generation_and_step():
    sequencer = sequencer_with(Delay(), Delay())
    start = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    owner = {"name": "Dana"}
    first = sequencer.due_step(enrolled(start), contact(), start, owner=owner)
    again = sequencer.due_step(enrolled(start), contact(), start + timedelta(hours=2), owner=owner)
    regenerated = sequencer.due_step(enrolled(start, generation=2), contact(), start, owner=owner)
    next_step = sequencer.due_step(enrolled(start, step=1, last_step_at=start), contact(), start, owner=owner)
    assert first.key == again.key
    assert len({first.key, regenerated.key, next_step.key}) == 3


def test_record_step_moves_on_and_completes_idempotently():
    sequencer = sequencer_with(Delay(), Delay())
    start = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    after_one = sequencer.record_step(enrolled(start), 0, start)
    assert (after_one.step, after_one.last_step_at, after_one.status) == (1, start, "active")
    assert sequencer.record_step(after_one, 0, start) == after_one
    assert sequencer.record_step(after_one, 1, start).status == "completed"


def test_task_steps_are_due_as_tasks():
    settings = SequenceSettings(name="seq", enroll_on="form.submitted", steps=[
        TaskStep(subject="Call {{ contact.firstname }}", task_type="call")])
    start = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    due = compile_sequences([settings]).due_step(enrolled(start), contact(), start)
    assert (due.kind, due.task_type, due.subject, due.thread_reply) == ("task", "call", "Call Ada", False)
