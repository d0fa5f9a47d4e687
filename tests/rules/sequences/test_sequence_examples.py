"""The example sequences in config/sequences/ compile and behave as their comments say: the welcome runs on days
1, 3, 7 and 14; the branching example sends each contact down the branch its comment names; the A/B example
splits enrolments across its variants, renders each variant's subject and waits each variant's delay."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import Enrollment, Sequencer, SequenceSettings, compile_sequences
from threadline.sync.events.records import Event, event_id

EXAMPLES = Path(__file__).parents[3] / "config" / "sequences" / "examples.yaml"
PACKAGED = Path(__file__).parents[3] / "threadline" / "examples" / "sequences.yaml"
CUSTOM_EVENTS = {"page.visited", "form.submitted", "meeting.completed"}
BOTH = ["examples.yaml", "examples.salesforce.yaml"]
NAMES = ["new-inbound-welcome", "post-demo-no-reply", "re-engagement-30-days", "pricing-accelerated",
         "trial-signup-branching", "guide-download-ab"]
OWNER = {"name": "Dana"}
UNSUBSCRIBE = "https://t.example/u/x"


def load(name: str = "examples.yaml") -> list[SequenceSettings]:
    data = yaml.safe_load((EXAMPLES.parent / name).read_text())["sequences"]
    return TypeAdapter(list[SequenceSettings]).validate_python(data)


def compiled(name: str = "examples.yaml") -> Sequencer:
    return compile_sequences(load(name), custom_events=CUSTOM_EVENTS)


def event(type_: str, contact_id: str, at: datetime, **data: object) -> Event:
    return Event(id=event_id(type_, contact_id, at.isoformat()), type=type_, contact_id=contact_id, occurred_at=at,
                 source="api", data=data)


def enrol(sequencer: Sequencer, contact: ContactFacts, form: str, at: datetime) -> Enrollment:
    [enrollment] = sequencer.enrollments_for(contact, [event("form.submitted", contact.id, at, form=form)], [], {},
                                             at)
    return enrollment


@pytest.mark.parametrize("name", BOTH)
def test_examples_compile(name: str) -> None:
    assert compiled(name).names == NAMES


def test_the_packaged_copy_the_demo_reads_is_the_example_file() -> None:
    assert PACKAGED.read_text() == EXAMPLES.read_text()


def test_welcome_runs_on_days_1_3_7_14_and_renders():
    """(A step landing on a weekend waits for Monday, and later steps count from when it went out.)"""
    sequencer = compiled()
    contact = ContactFacts("c1", {"email": "ada@acme.io", "firstname": "Ada", "timezone": "Europe/Berlin"})
    tuesday = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)   # Tuesday: days 3, 7, 14 fall on weekdays
    enrollment = enrol(sequencer, contact, "demo", tuesday)
    days = []
    now = tuesday
    while enrollment.status == "active":
        due = sequencer.due_step(enrollment, contact, now + timedelta(days=30), owner=OWNER,
                                 unsubscribe_url=UNSUBSCRIBE)
        days.append((due.due_at.date() - tuesday.date()).days + 1)
        assert "Ada" in due.subject and UNSUBSCRIBE in due.body
        enrollment = sequencer.record_step(enrollment, due.step_index, due.due_at)
        now = due.due_at
    assert days == [1, 3, 7, 14]
    assert enrollment == Enrollment("new-inbound-welcome", "c1", tuesday, status="completed", step=4,
                                    last_step_at=now)


# -- the branching example ---------------------------------------------------------------------------------------

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)     # 10:00 in Berlin, inside the window


def run_branching(name: str, score: float, events_after_step_2: list[tuple[str, dict[str, object]]]
                  ) -> tuple[list[tuple[int, str, str]], Enrollment, list[str]]:
    """Enrol a trial sign-up and run it to the end: (step index, kind, subject) of each step it ran, the final
    enrolment and the branch decisions' reasons. ``events_after_step_2`` happen a day after step 2 went out."""
    sequencer = compiled(name)
    contact = ContactFacts("c1", {"email": "ada@acme.io", "firstname": "Ada", "company": "Acme"})
    enrollment = enrol(sequencer, contact, "trial", MONDAY)
    ran: list[tuple[int, str, str]] = []
    events: list[Event] = []
    reasons: list[str] = []
    now = MONDAY
    while enrollment.status == "active":
        due_at = sequencer.due_at(enrollment, contact)
        assert due_at is not None
        now = max(now, due_at)
        enrollment, decisions = sequencer.route(enrollment, contact, {"total": score}, events, now)
        events += [decision.event() for decision in decisions]
        reasons += [decision.why for decision in decisions]
        due = sequencer.due_step(enrollment, contact, now, owner=OWNER, unsubscribe_url=UNSUBSCRIBE)
        if due is None:
            break
        ran.append((due.step_index, due.kind, due.subject))
        if due.kind == "email":
            assert UNSUBSCRIBE in due.body and "Ada" in due.body and "Dana" in due.body
        enrollment = sequencer.record_step(enrollment, due.step_index, now)
        if len(ran) == 2:
            events += [event(type_, "c1", now + timedelta(days=1), **data) for type_, data in events_after_step_2]
    return ran, enrollment, reasons


PRICING_VISIT = ("page.visited", {"url": "https://northwind.example/pricing"})
STEP_NAMES = ["welcome", "check-in", "case-study", "call-owner", "pricing", "last-note"]


@pytest.mark.parametrize("name", BOTH)
def test_branching_an_engaged_contact_without_a_reply_gets_a_call_task_and_the_sequence_ends(name: str) -> None:
    assert [step.name for step in compiled(name).settings("trial-signup-branching").steps] == STEP_NAMES
    ran, enrollment, [why] = run_branching(name, 45.0, [PRICING_VISIT])    # the first branch wins over the second
    assert [(index, kind) for index, kind, _ in ran] == [(0, "email"), (1, "email"), (3, "task")]
    assert ran[2][2] == "Call Ada: engaged in the trial, no reply"
    assert enrollment.status == "completed"                                 # then: end
    assert "score.total >= 40 (is 45.0)" in why and "no reply.received since the previous step" in why


@pytest.mark.parametrize("name", BOTH)
def test_branching_a_pricing_visit_after_step_2_gets_the_pricing_email_then_the_last_note(name: str) -> None:
    ran, enrollment, [why] = run_branching(name, 10.0, [PRICING_VISIT])
    assert [index for index, _, _ in ran] == [0, 1, 4, 5]
    assert [subject for _, _, subject in ran] == ["Your trial is ready, Ada", *["Re: Your trial is ready, Ada"] * 3]
    assert enrollment.status == "completed" and "seen page.visited (url contains /pricing)" in why


@pytest.mark.parametrize("name", BOTH)
def test_branching_everyone_else_gets_step_3_and_skips_both_branch_targets(name: str) -> None:
    ran, enrollment, [why] = run_branching(name, 10.0, [("page.visited", {"url": "https://northwind.example/blog"})])
    assert [index for index, _, _ in ran] == [0, 1, 2, 5] and why == "no branch held"
    assert enrollment.status == "completed"


@pytest.mark.parametrize("name", BOTH)
def test_branching_a_pricing_visit_before_step_2_does_not_count(name: str) -> None:
    """The branch reads events since the previous step (step 2), not since enrolment."""
    sequencer = compiled(name)
    contact = ContactFacts("c1", {"email": "ada@acme.io"})
    after_step_2 = Enrollment("trial-signup-branching", "c1", MONDAY, step=2, last_step_at=MONDAY + timedelta(days=2))
    early = event("page.visited", "c1", MONDAY + timedelta(days=1), url="https://northwind.example/pricing")
    routed, [decision] = sequencer.route(after_step_2, contact, {"total": 10.0}, [early], MONDAY + timedelta(days=7))
    assert (decision.branch, routed.step) == (0, 2)


def test_branching_a_reply_exits_before_any_branch_is_decided() -> None:
    sequencer = compiled()
    contact = ContactFacts("c1", {"email": "ada@acme.io", "firstname": "Ada"})
    after_step_2 = Enrollment("trial-signup-branching", "c1", MONDAY, step=2, last_step_at=MONDAY + timedelta(days=2))
    reply = event("reply.received", "c1", MONDAY + timedelta(days=3))
    exited = sequencer.advance(after_step_2, contact, [reply], MONDAY + timedelta(days=5))
    assert exited.exit_reason == "replied"
    # The runner routes only what `advance` left active; an exited enrolment takes no branch even when asked at
    # the moment its step falls due.
    due = sequencer.due_at(after_step_2, contact)
    assert due is not None
    assert sequencer.route(exited, contact, {}, [reply], due) == (exited, [])
    _, decisions = sequencer.route(after_step_2, contact, {}, [], due)
    assert len(decisions) == 1                             # without the reply, the step's branch is decided


# -- the A/B example ---------------------------------------------------------------------------------------------

AB = "guide-download-ab"


@pytest.mark.parametrize("name", BOTH)
def test_ab_example_splits_enrolments_across_both_tests_and_each_variant_changes_what_it_says(name: str) -> None:
    sequencer = compiled(name)
    first, second = sequencer.settings(AB).steps[:2]
    assert [v.name for v in first.variants] == ["benefit", "question"] and first.winner is None
    assert [v.name for v in second.variants] == ["two-days", "three-days"]
    chosen: Counter[tuple[int, str]] = Counter()
    for n in range(400):
        contact = ContactFacts(f"c{n}", {"email": f"p{n}@acme.io", "firstname": "Ada", "company": "Acme"})
        enrollment = enrol(sequencer, contact, "guide", MONDAY)
        variants = dict(enrollment.variants)
        chosen.update(variants.items())
        due = sequencer.due_step(enrollment, contact, MONDAY + timedelta(hours=1), owner=OWNER,
                                 unsubscribe_url=UNSUBSCRIBE)
        assert due is not None and due.variant == variants[0]
        assert due.subject == {"benefit": "Cut onboarding time in half at Acme",
                               "question": "How long does onboarding take at Acme?"}[variants[0]]
        after = sequencer.record_step(enrollment, 0, due.due_at)
        wait = sequencer.due_at(after, contact) - due.due_at
        assert wait == timedelta(days={"two-days": 2, "three-days": 3}[variants[1]])      # Mon 10:00 -> Wed/Thu
        step_2 = sequencer.due_step(after, contact, due.due_at + wait, owner=OWNER, unsubscribe_url=UNSUBSCRIBE)
        assert step_2 is not None and step_2.subject == "A 10-point onboarding checklist for Acme"
        assert not step_2.thread_reply and step_2.variant == variants[1]
    for step, names in ((0, ("benefit", "question")), (1, ("two-days", "three-days"))):
        assert all(150 < chosen[(step, variant)] < 250 for variant in names), chosen      # 1:1 weights


def test_ending_the_ab_example_with_a_winner_gives_new_enrolments_the_winner_only() -> None:
    settings = load()
    running = compile_sequences(settings, custom_events=CUSTOM_EVENTS)
    contacts = [ContactFacts(f"c{n}", {"email": f"p{n}@acme.io"}) for n in range(40)]
    on_question = [e for e in (enrol(running, c, "guide", MONDAY) for c in contacts) if dict(e.variants)[0] == "question"]
    ab = settings[5]
    ended_step = ab.steps[0].model_copy(update={"winner": "benefit"})
    ended = compile_sequences([*settings[:5], ab.model_copy(update={"steps": [ended_step, *ab.steps[1:]]})],
                              custom_events=CUSTOM_EVENTS)
    assert {dict(enrol(ended, c, "guide", MONDAY).variants)[0] for c in contacts} == {"benefit"}
    due = ended.due_step(on_question[0], contacts[int(on_question[0].contact_id[1:])], MONDAY + timedelta(hours=1),
                         owner=OWNER, unsubscribe_url=UNSUBSCRIBE)
    assert due is not None and due.variant == "question"          # an enrolment already on a variant finishes on it
