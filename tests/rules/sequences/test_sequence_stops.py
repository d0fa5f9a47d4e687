"""Stop rules: replies pause or exit, out-of-office pauses, bounces/unsubscribes/meetings/stages exit,
and stop_reason catches what arrives seconds before a send."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import EmailStep, Enrollment, SequenceSettings, compile_sequences, stop_reason
from threadline.sync.events.records import Event, event_id

ENROLLED = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
NOW = ENROLLED + timedelta(days=2)
ADA = ContactFacts("c1", {"timezone": "Europe/Berlin", "lifecyclestage": "lead"})


def event(type_, at, **data):
    return Event(id=event_id(type_, "c1", at.isoformat()), type=type_, contact_id="c1", occurred_at=at,
                 source="mailbox:dana@us.io", data=data)


def sequencer(**overrides):
    settings = SequenceSettings(**{"name": "seq", "enroll_on": "form.submitted",
                                   "steps": [EmailStep(subject="a", body="b")] * 3, **overrides})
    return compile_sequences([settings])


ACTIVE = Enrollment("seq", "c1", ENROLLED, step=1, last_step_at=ENROLLED)


def test_reply_exits_by_default_and_creates_one_owner_task():
    rules = sequencer()
    reply = event("reply.received", ENROLLED + timedelta(hours=5))
    after = rules.advance(ACTIVE, ADA, [reply], NOW)
    assert (after.status, after.exit_reason) == ("exited", "replied")
    task = rules.reply_task(ACTIVE, after, "101", NOW)
    assert task.owner_id == "101" and task.priority == "HIGH"
    assert rules.reply_task(after, rules.advance(after, ADA, [reply], NOW), "101", NOW) is None


def test_reply_pauses_when_configured_until_a_manual_resume():
    rules = sequencer(on_reply="pause")
    reply = event("reply.received", ENROLLED + timedelta(hours=5))
    paused = rules.advance(ACTIVE, ADA, [reply], NOW)
    assert (paused.status, paused.paused_until, paused.exit_reason) == ("paused", None, "replied")
    assert rules.advance(paused, ADA, [reply], NOW + timedelta(days=30)).status == "paused"
    resumed = event("sequence.resumed", ENROLLED + timedelta(days=3), sequence="seq")
    assert rules.advance(paused, ADA, [reply, resumed], NOW + timedelta(days=3)).status == "active"


def test_a_reply_before_enrolment_does_not_stop_the_sequence():
    old_reply = event("reply.received", ENROLLED - timedelta(days=1))
    assert sequencer().advance(ACTIVE, ADA, [old_reply], NOW).status == "active"


def test_out_of_office_pauses_until_the_return_date_in_the_contacts_zone():
    rules = sequencer()
    ooo = event("auto_reply.received", ENROLLED + timedelta(hours=1), return_date="2024-05-20")
    paused = rules.advance(ACTIVE, ADA, [ooo], NOW)
    assert paused.status == "paused"
    assert paused.paused_until == datetime(2024, 5, 19, 22, 0, tzinfo=UTC)   # 00:00 CEST
    back = rules.advance(paused, ADA, [ooo], datetime(2024, 5, 20, 6, 0, tzinfo=UTC))
    assert (back.status, back.paused_until) == ("active", None)
    assert rules.due_at(paused, ADA) >= paused.paused_until


def test_out_of_office_without_a_readable_date_pauses_for_the_default():
    rules = sequencer(ooo_pause_days=3)
    arrived = ENROLLED + timedelta(hours=1)
    paused = rules.advance(ACTIVE, ADA, [event("auto_reply.received", arrived, return_date=None)], NOW)
    assert paused.paused_until == arrived + timedelta(days=3)


def test_bounce_unsubscribe_meeting_and_manual_stop_exit_with_their_reason():
    rules = sequencer()
    later = ENROLLED + timedelta(hours=3)
    for type_, reason in [("bounce.received", "bounced"), ("unsubscribed", "unsubscribed"),
                          ("meeting.booked", "meeting"), ("sequence.stopped", "manual")]:
        after = rules.advance(ACTIVE, ADA, [event(type_, later, sequence="seq")], NOW)
        assert (after.status, after.exit_reason) == ("exited", reason)


def test_an_unsubscribe_from_before_enrolment_still_exits():
    after = sequencer().advance(ACTIVE, ADA, [event("unsubscribed", ENROLLED - timedelta(days=90))], NOW)
    assert after.exit_reason == "unsubscribed"


def test_stage_change_to_a_listed_value_and_closed_deal_exit():
    rules = sequencer(exit_on_stage_change_to=["customer"], deal_closed_field="closed_won_date")
    change = event("contact.updated", ENROLLED + timedelta(hours=2), field="lifecyclestage", old="lead",
                   new="customer")
    assert rules.advance(ACTIVE, ADA, [change], NOW).exit_reason == "stage:customer"
    already = ContactFacts("c1", {"lifecyclestage": "Customer"})
    assert rules.advance(ACTIVE, already, [], NOW).exit_reason == "stage:Customer"
    closed = ContactFacts("c1", {"closed_won_date": "2024-05-07"})
    assert rules.advance(ACTIVE, closed, [], NOW).exit_reason == "deal_closed"
    assert rules.advance(ACTIVE, ContactFacts("c1", {"closed_won_date": ""}), [], NOW).status == "active"


def test_finished_enrollments_never_change():
    done = replace(ACTIVE, status="completed", step=3)
    assert sequencer().advance(done, ADA, [event("reply.received", NOW)], NOW) == done


def test_stop_reason_catches_a_reply_one_second_before_the_send():
    due_at = ENROLLED + timedelta(days=2)
    reply = event("reply.received", due_at - timedelta(seconds=1))
    assert stop_reason(ACTIVE, [reply], due_at) == "replied"
    assert stop_reason(ACTIVE, [], due_at) is None


def test_stop_reason_honours_a_reply_stamped_after_now_clock_skew():
    assert stop_reason(ACTIVE, [event("reply.received", NOW + timedelta(seconds=30))], NOW) == "replied"


def test_stop_reason_for_every_kind_of_stop():
    later = ENROLLED + timedelta(hours=1)
    assert stop_reason(ACTIVE, [event("unsubscribed", later)], NOW) == "unsubscribed"
    assert stop_reason(ACTIVE, [event("bounce.received", later)], NOW) == "bounced"
    assert stop_reason(ACTIVE, [event("meeting.booked", later)], NOW) == "meeting"
    assert stop_reason(replace(ACTIVE, status="exited", exit_reason="manual"), [], NOW) == "exited"
    paused = replace(ACTIVE, status="paused", paused_until=NOW + timedelta(hours=1))
    assert stop_reason(paused, [], NOW) == "paused"
    assert stop_reason(paused, [], NOW + timedelta(hours=2)) is None
