"""Branching sequences (pure layer): branches decide when their step falls due, once; targets lie ahead;
validation refuses loops, unknown targets and unreachable steps with the config path."""

from datetime import UTC, datetime, timedelta

import pytest

from threadline.rules.conditions import RuleError
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import Enrollment, SequenceSettings, compile_sequences
from threadline.rules.sequences.branching import BRANCHED
from threadline.sync.events.records import Event, event_id

ENROLLED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)        # a Monday
ANY_TIME = {"start": "00:00", "end": "23:59", "days": [0, 1, 2, 3, 4, 5, 6]}


def event(type_, at, **data):
    return Event(id=event_id(type_, "c1", at.isoformat()), type=type_, contact_id="c1", occurred_at=at,
                 source="web", data=data)


def email(name=None, days=0, **extra):
    step = {"kind": "email", "subject": f"{name or 'mail'}", "body": "Hi", "delay": {"days": days}, **extra}
    return {**step, "name": name} if name else step


def sequence(steps, **overrides):
    return SequenceSettings(**{"name": "nurture", "enroll_on": "form.submitted", "window": ANY_TIME,
                               "steps": steps, **overrides})


#: "No reply after step 2 and score >= 40: a call task for the owner; otherwise step 3" (the issue's example).
PLAYBOOK = [
    email("intro"),
    email("follow-up", days=2),
    email("pricing", days=3, branches=[
        {"when": {"score.total": {">=": 40}}, "not_seen": {"event.type": "reply.received"}, "goto": "call-owner"},
        {"seen": {"event.type": "page.visited", "event.url": {"contains": "/pricing"}}, "goto": "pricing-visit"},
    ], then="breakup"),
    {"kind": "task", "name": "call-owner", "subject": "Call {{ contact.firstname }}", "task_type": "call",
     "then": "end"},
    email("pricing-visit", subject="Saw you looked at pricing"),
    email("breakup", days=4),
]
ADA = ContactFacts("c1", {"firstname": "Ada"})
AT_STEP_3 = Enrollment("nurture", "c1", ENROLLED, step=2, last_step_at=ENROLLED + timedelta(days=2))
DUE = ENROLLED + timedelta(days=5)


def test_the_first_branch_that_holds_sends_the_enrolment_to_its_step_with_the_reason():
    rules = compile_sequences([sequence(PLAYBOOK)])
    routed, decisions = rules.route(AT_STEP_3, ADA, {"total": 45.0}, [], DUE)
    assert routed.step == 3 and routed.status == "active"
    [decision] = decisions
    assert (decision.step, decision.branch, decision.goto, decision.to) == (2, 1, "call-owner", 3)
    assert "score.total >= 40 (is 45.0)" in decision.why and "no reply.received since the previous step" in decision.why
    due = rules.due_step(routed, ADA, DUE)
    assert due is not None and due.kind == "task" and due.subject == "Call Ada" and due.next_step is None
    assert rules.record_step(routed, 3, DUE).status == "completed"      # then: end


def test_a_reply_since_the_previous_step_fails_the_not_seen_branch_and_a_pricing_visit_takes_the_second():
    rules = compile_sequences([sequence(PLAYBOOK)])
    events = [event("reply.received", ENROLLED + timedelta(days=3)),
              event("page.visited", ENROLLED + timedelta(days=4), url="https://acme.io/pricing")]
    routed, [decision] = rules.route(AT_STEP_3, ADA, {"total": 45.0}, events, DUE)
    assert (decision.branch, routed.step) == (2, 4)
    assert "seen page.visited (url contains /pricing) since the previous step" in decision.why


def test_no_branch_holding_keeps_the_step_and_its_then_skips_the_branch_targets():
    rules = compile_sequences([sequence(PLAYBOOK)])
    old_visit = event("page.visited", ENROLLED + timedelta(days=1), url="/pricing")     # before the previous step
    routed, [decision] = rules.route(AT_STEP_3, ADA, {"total": 10.0}, [old_visit], DUE)
    assert (decision.branch, decision.to, routed.step) == (0, 2, 2)
    due = rules.due_step(routed, ADA, DUE)
    assert due is not None and due.subject == "pricing" and due.next_step == 5
    assert rules.record_step(routed, 2, DUE).step == 5


def test_a_recorded_decision_is_never_taken_again_even_when_the_facts_change():
    rules = compile_sequences([sequence(PLAYBOOK)])
    _, [decision] = rules.route(AT_STEP_3, ADA, {"total": 10.0}, [], DUE)
    again, more = rules.route(AT_STEP_3, ADA, {"total": 90.0}, [decision.event()], DUE + timedelta(hours=1))
    assert more == [] and again.step == 2
    assert decision.event().type == BRANCHED
    assert decision.event().id == rules.route(AT_STEP_3, ADA, {"total": 90.0}, [], DUE)[1][0].event().id


def test_branches_wait_until_their_step_falls_due():
    rules = compile_sequences([sequence(PLAYBOOK)])
    routed, decisions = rules.route(AT_STEP_3, ADA, {"total": 45.0}, [], DUE - timedelta(hours=1))
    assert decisions == [] and routed == AT_STEP_3


def test_goto_end_completes_and_a_jump_lands_on_a_step_whose_own_branches_are_then_decided():
    steps = [email("a", branches=[{"when": {"contact.country": "DE"}, "goto": "b"}]),
             email("skipped"),
             email("b", branches=[{"when": {"contact.firstname": {"exists": True}}, "goto": "end"}])]
    rules = compile_sequences([sequence(steps)])
    start = Enrollment("nurture", "c1", ENROLLED)
    routed, decisions = rules.route(start, ContactFacts("c1", {"country": "DE", "firstname": "Ada"}), {}, [],
                                    ENROLLED + timedelta(minutes=1))
    assert [d.goto for d in decisions] == ["b", "end"] and routed.status == "completed"


def test_branch_since_enrolment_counts_events_before_the_previous_step():
    steps = [email("a"), email("b", days=1, branches=[
        {"since": "enrolment", "seen": {"event.type": "meeting.tentative"}, "goto": "c"}]), email("c")]
    rules = compile_sequences([sequence(steps)])
    early = event("meeting.tentative", ENROLLED + timedelta(hours=1))
    at_b = Enrollment("nurture", "c1", ENROLLED, step=1, last_step_at=ENROLLED + timedelta(hours=2))
    routed, [decision] = rules.route(at_b, ADA, {}, [early], ENROLLED + timedelta(days=2))
    assert routed.step == 2 and "since enrolment" in decision.why


@pytest.mark.parametrize(("steps", "expected"), [
    ([email("a", then="a"), email("b")],
     "rules.sequences[0].steps[0].then: 'a' is step 1, not after step 1: a branch or `then` may only go forward"),
    ([email("a"), email("b", branches=[{"goto": "a"}])],
     "rules.sequences[0].steps[1].branches[0].goto: 'a' is step 1, not after step 2"),
    ([email("a", branches=[{"goto": "nowhere"}]), email("b")],
     "rules.sequences[0].steps[0].branches[0].goto: no step named 'nowhere' (steps: a, b; or 'end')"),
    ([email("a", then="end"), email("b")],
     "rules.sequences[0].steps[1]: unreachable: no step goes to 'b'"),
    ([email("a", then="c"), email("b"), email("c")],
     "rules.sequences[0].steps[1]: unreachable: no step goes to 'b'"),
    ([email("a"), email("a")], "rules.sequences[0].steps[1].name: duplicate step name 'a'"),
    ([email("a", branches=[{"seen": {"event.url": {"contains": "/pricing"}}, "goto": "end"}]), email("b")],
     "rules.sequences[0].steps[0].branches[0].seen: name the event type"),
    ([email("a", branches=[{"when": {"contact.x": {"~": 1}}, "goto": "end"}]), email("b")],
     "rules.sequences[0].steps[0].branches[0].when"),
    ([email("a", branches=[{"when": {"event.url": "x"}, "goto": "end"}]), email("b")],
     "unknown namespace 'event'"),
    ([email("a", branches=[{"not_seen": {"event.type": "reply.recieved"}, "goto": "end"}]), email("b")],
     "steps[0].branches[0].not_seen.event.type: unknown event type 'reply.recieved' (did you mean 'reply.received'?)"),
])
def test_validation_refuses_loops_unknown_targets_and_unreachable_steps(steps, expected):
    with pytest.raises(RuleError) as raised:
        compile_sequences([sequence(steps)])
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems


def test_a_branch_target_reached_only_through_its_branch_is_reachable():
    # call-owner and pricing-visit are reached through branches only; without the branch, call-owner is not.
    assert compile_sequences([sequence(PLAYBOOK)]).names == ["nurture"]
    unbranched = [PLAYBOOK[0], PLAYBOOK[1], {**PLAYBOOK[2], "branches": [PLAYBOOK[2]["branches"][1]]}, *PLAYBOOK[3:]]
    with pytest.raises(RuleError) as raised:
        compile_sequences([sequence(unbranched)])
    assert raised.value.problems == ["rules.sequences[0].steps[3]: unreachable: no step goes to 'call-owner' (give it "
                                     "a name and a branch or `then` that leads to it, or remove it)"]


def test_a_booked_meeting_ends_the_enrolment_unless_the_sequence_goes_on_and_a_branch_routes_on_it():
    steps = [email("intro"),
             email("nudge", days=2, branches=[{"seen": {"event.type": "meeting.booked"}, "goto": "prep"}], then="end"),
             {"kind": "task", "name": "prep", "subject": "Prepare the meeting with {{ contact.firstname }}"}]
    booked = event("meeting.booked", ENROLLED + timedelta(days=1), meeting_id="m1")
    at_nudge = Enrollment("nurture", "c1", ENROLLED, step=1, last_step_at=ENROLLED)
    ending = compile_sequences([sequence(steps)])
    assert ending.advance(at_nudge, ADA, [booked], DUE).exit_reason == "meeting"
    going_on = compile_sequences([sequence(steps, exit_on_meeting=False)])
    active = going_on.advance(at_nudge, ADA, [booked], DUE)
    assert active.status == "active"
    routed, [decision] = going_on.route(active, ADA, {}, [booked], DUE)
    assert (decision.goto, routed.step) == ("prep", 2)
    assert going_on.due_step(routed, ADA, DUE).subject == "Prepare the meeting with Ada"
