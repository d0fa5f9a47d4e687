"""The sequence runner over a real store: enrolment, stop rules and due steps become outbox rows exactly once.

The store is the runner's input: contacts (ContactRow) and events (record_events) are seeded directly;
the send executor's part of the contract (mark the row done and advance the enrollment, or cancel it)
is played by `executor_sent` / `executor_cancelled` below. Every `now` is fixed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from threadline.rules.effects import effect_key
from threadline.rules.sequences import SequenceSettings, compile_sequences, step_key
from threadline.rules.sequences.runner import PlannedStep, SendingMailbox, SequenceRunner
from threadline.rules.sequences.unsubscribe_links import list_unsubscribe_headers, unsubscribe_url
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import (
    AuditRow,
    ContactRow,
    EnrollmentRow,
    EventRow,
    OutboxRow,
    RuleStateRow,
    SyncErrorRow,
)

MONDAY = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
FRIDAY = datetime(2024, 5, 10, 16, 0, tzinfo=UTC)
PUBLIC_URL, SECRET = "https://tl.example.com", "s3cret"
DANA = SendingMailbox("dana@rep.example", "o1", display_name="Dana Scully")
SHARED = SendingMailbox("team@rep.example", "o9")

WELCOME: dict[str, Any] = {
    "name": "welcome", "enroll_on": "form.submitted", "enroll_when": {"event.form": "demo"},
    "window": {"start": "08:00", "end": "18:00"},
    "steps": [
        {"kind": "email", "subject": "Hi {{ contact.firstname }}",
         "body": "Hello {{ contact.firstname }}, I'm {{ owner.first_name }} at {{ company }}.\n{{ unsubscribe_url }}"},
        {"kind": "email", "delay": {"days": 2}, "subject": "Re: Hi {{ contact.firstname }}", "body": "Following up"},
        {"kind": "task", "delay": {"days": 1}, "subject": "Call {{ contact.firstname }}", "task_type": "call"},
    ],
}


# -- world -------------------------------------------------------------------------------------------

@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def contact(store: Store, crm_id: str, email: str | None = "ada@acme.io", owner: str | None = "o1",
            first: str = "Ada", **properties: str) -> None:
    with store.session() as session:
        session.add(ContactRow(crm_id=crm_id, primary_email=email, first_name=first, company="Acme", owner_id=owner,
                               updated_at=MONDAY, properties=json.dumps(properties)))


def event(store: Store, type_: str, contact_id: str = "c1", at: datetime = MONDAY, **data: Any) -> None:
    with store.session() as session:
        record_events(session, [Event(id=event_id(type_, contact_id, at.isoformat(), json.dumps(data)), type=type_,
                                      contact_id=contact_id, occurred_at=at, source="api", data=data)])


def runner(store: Store, *mailboxes: SendingMailbox, **overrides: Any) -> SequenceRunner:
    sequence = SequenceSettings.model_validate({**WELCOME, **overrides})
    return SequenceRunner(store, compile_sequences([sequence]), mailboxes or (DANA,), public_url=PUBLIC_URL,
                          unsubscribe_secret=SECRET, owner_names=lambda: {"o1": "Dana from the CRM"})


def rows(store: Store, kind: str | None = None) -> list[OutboxRow]:
    with store.session() as session:
        query = select(OutboxRow).order_by(col(OutboxRow.id))
        return list(session.exec(query.where(OutboxRow.kind == kind) if kind else query).all())


def enrollments(store: Store) -> list[EnrollmentRow]:
    with store.session() as session:
        return list(session.exec(select(EnrollmentRow).order_by(col(EnrollmentRow.contact_id))).all())


def utc(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def key(contact_id: str = "c1", step: int = 0, generation: int = 1) -> str:
    return step_key("welcome", contact_id, generation, step)


def executor_sent(store: Store, row_key: str, at: datetime, thread_id: str = "thread-1") -> None:
    """What the send executor records once the mail is out (one transaction, per the contract)."""
    with store.session() as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.key == row_key)).one()
        payload = json.loads(row.payload)
        payload["sent"] = {"provider_id": "p-1", "thread_id": thread_id, "at": at.isoformat(), "confirmed": True}
        row.payload, row.status = json.dumps(payload), "done"
        enrollment = session.get(EnrollmentRow, (payload["sequence"], row.contact_id, payload["generation"]))
        assert enrollment is not None
        enrollment.step += 1
        enrollment.last_step_at = enrollment.next_due_at = at
        enrollment.status = "completed" if payload["last_step"] else enrollment.status
        session.add_all([row, enrollment])


def executor_cancelled(store: Store, row_key: str, reason: str, at: datetime) -> None:
    """What the send executor records when stop_reason refuses the send."""
    with store.session() as session:
        row = session.exec(select(OutboxRow).where(OutboxRow.key == row_key)).one()
        row.status, row.last_error = "cancelled", reason
        enrollment = session.get(EnrollmentRow, ("welcome", row.contact_id, 1))
        assert enrollment is not None
        enrollment.next_due_at = at
        session.add_all([row, enrollment])


def enrolled(store: Store, *contact_ids: str, at: datetime = MONDAY) -> None:
    for contact_id in contact_ids or ("c1",):
        contact(store, contact_id, email=f"{contact_id}@acme.io")
        event(store, "form.submitted", contact_id, at, form="demo")


# -- enrolment ---------------------------------------------------------------------------------------

def test_a_matching_event_enrols_once_and_other_events_do_not(store: Store) -> None:
    contact(store, "c1")
    contact(store, "c2", email="bo@acme.io", first="Bo")
    event(store, "form.submitted", "c1", form="demo")
    event(store, "form.submitted", "c2", form="newsletter")
    first = runner(store).run(MONDAY)
    event(store, "form.submitted", "c1", MONDAY + timedelta(hours=1), form="demo")
    second = runner(store).run(MONDAY + timedelta(hours=1))
    assert [(e.contact_id, e.generation, e.status) for e in enrollments(store)] == [("c1", 1, "active")]
    assert (first.enrolled, second.enrolled) == (1, 0)


def test_thirty_silent_days_enrol_once_and_silence_is_checked_hourly(store: Store) -> None:
    contact(store, "c1")
    contact(store, "c2", email="bo@acme.io")
    event(store, "email.sent", "c1", MONDAY - timedelta(days=31), subject="Hi")
    event(store, "email.sent", "c2", MONDAY - timedelta(days=10), subject="Hi")
    run = runner(store, enroll_on="contact.silent", silent_days=30, enroll_when={})
    first = run.run(MONDAY)
    with store.session() as session:
        silent = session.exec(select(EventRow).where(EventRow.type == "contact.silent")).all()
        checked = session.get(RuleStateRow, "sequence_silence_check")
    assert [e.contact_id for e in silent] == ["c1"] and checked is not None
    assert (first.enrolled, [e.contact_id for e in enrollments(store)]) == (1, ["c1"])
    assert run.run(MONDAY + timedelta(minutes=30)).enrolled == 0
    with store.session() as session:
        assert session.get(RuleStateRow, "sequence_silence_check").data == checked.data  # type: ignore[union-attr]
    assert run.run(MONDAY + timedelta(hours=2)).enrolled == 0           # same silent period: same event id
    assert len(enrollments(store)) == 1


def test_a_deleted_contact_exits_and_is_not_sent_to(store: Store) -> None:
    enrolled(store, at=FRIDAY.replace(hour=7))
    runner(store).run(FRIDAY.replace(hour=7))
    with store.session() as session:
        session.get(ContactRow, "c1").deleted = True   # type: ignore[union-attr]
    runner(store).run(FRIDAY)
    [enrollment] = enrollments(store)
    assert (enrollment.status, enrollment.exit_reason, rows(store)) == ("exited", "contact_deleted", [])


def test_an_out_of_office_pauses_until_the_return_date(store: Store) -> None:
    enrolled(store)
    run = runner(store)
    run.run(MONDAY)
    executor_sent(store, key(), MONDAY)
    event(store, "auto_reply.received", at=MONDAY + timedelta(hours=1), return_date="2024-05-13")
    run.run(MONDAY + timedelta(hours=1))
    [enrollment] = enrollments(store)
    back = datetime(2024, 5, 13, tzinfo=UTC)
    assert (enrollment.status, utc(enrollment.paused_until), utc(enrollment.next_due_at)) == ("paused", back, back)
    assert run.run(MONDAY + timedelta(days=3)).sends_intended == 0
    run.run(back)                                        # resumed at midnight, the window opens at 08:00
    assert utc(enrollments(store)[0].next_due_at) == back + timedelta(hours=8)
    assert run.run(back + timedelta(hours=8)).sends_intended == 1
    assert rows(store, "create_task") == []              # an auto-reply is not a reply


# -- the first step ----------------------------------------------------------------------------------

def test_the_first_step_is_intended_with_the_contracted_payload(store: Store) -> None:
    contact(store, "c1")
    event(store, "form.submitted", form="demo")
    summary = runner(store).run(MONDAY)
    [row] = rows(store, "send_email")
    payload = json.loads(row.payload)
    url = unsubscribe_url(PUBLIC_URL, SECRET, "c1")
    assert (row.key, row.contact_id, row.status) == (key(), "c1", "pending")
    assert {k: payload[k] for k in ("sequence", "generation", "step_index", "last_step", "mailbox")} == {
        "sequence": "welcome", "generation": 1, "step_index": 0, "last_step": False, "mailbox": "dana@rep.example"}
    email = payload["email"]
    assert email["key"] == key() and email["message_id"] == f"<tl-{key()}@rep.example>"
    assert (email["from_address"], email["from_name"], email["to"]) == ("dana@rep.example", "Dana Scully",
                                                                        ["ada@acme.io"])
    assert email["subject"] == "Hi Ada"
    assert email["text"] == f"Hello Ada, I'm Dana at Acme.\n{url}"
    assert email["headers"] == list_unsubscribe_headers(url)
    assert email["in_reply_to"] is None and email["references"] == []
    [enrollment] = enrollments(store)
    assert (enrollment.next_due_at, enrollment.mailbox, enrollment.step) == (None, "dana@rep.example", 0)
    with store.session() as session:
        audit = session.exec(select(AuditRow).where(AuditRow.effect_key == key())).one()
    assert (audit.kind, audit.rule) == ("send_email", "sequence:welcome")
    assert (summary.enrolled, summary.sends_intended) == (1, 1)


def test_running_again_intends_nothing_new(store: Store) -> None:
    enrolled(store)
    runner(store).run(MONDAY)
    before = [(r.key, r.status, r.payload) for r in rows(store)]
    again = runner(store).run(MONDAY)
    later = runner(store).run(MONDAY + timedelta(days=3))
    assert [(r.key, r.status, r.payload) for r in rows(store)] == before
    assert again.sends_intended == later.sends_intended == again.enrolled == 0


def test_owner_name_comes_from_the_crm_when_the_mailbox_has_no_display_name(store: Store) -> None:
    enrolled(store)
    runner(store, SendingMailbox("dana@rep.example", "o1")).run(MONDAY)
    email = json.loads(rows(store, "send_email")[0].payload)["email"]
    assert email["from_name"] == "Dana from the CRM" and "I'm Dana at" in email["text"]


# -- later steps -------------------------------------------------------------------------------------

def test_step_two_waits_for_the_send_then_its_delay_then_the_window_and_replies_in_thread(store: Store) -> None:
    enrolled(store, at=FRIDAY)
    runner(store).run(FRIDAY)
    assert runner(store).run(FRIDAY + timedelta(days=3)).sends_intended == 0     # step 1 not sent yet
    executor_sent(store, key(), FRIDAY + timedelta(minutes=1))
    sunday = FRIDAY + timedelta(days=2, hours=2)       # delay over (Sunday 16:01) but the window is Mon-Fri
    assert runner(store).run(sunday).sends_intended == 0
    monday_8 = datetime(2024, 5, 13, 8, 0, tzinfo=UTC)
    assert utc(enrollments(store)[0].next_due_at) == monday_8
    assert runner(store).run(monday_8 - timedelta(minutes=1)).sends_intended == 0
    assert runner(store).run(monday_8).sends_intended == 1
    first, second = rows(store, "send_email")
    email = json.loads(second.payload)["email"]
    first_id = json.loads(first.payload)["email"]["message_id"]
    assert second.key == key(step=1) and email["subject"] == "Re: Hi Ada"
    assert (email["in_reply_to"], email["references"], email["thread_id"]) == (first_id, [first_id], "thread-1")


def test_a_task_step_is_intended_for_the_owner_and_the_enrollment_moves_on(store: Store) -> None:
    enrolled(store)
    runner(store).run(MONDAY)
    executor_sent(store, key(), MONDAY)
    wednesday = MONDAY + timedelta(days=2)
    runner(store).run(wednesday)
    executor_sent(store, key(step=1), wednesday)
    summary = runner(store).run(wednesday + timedelta(days=1))
    [task] = rows(store, "create_task")
    payload = json.loads(task.payload)
    assert task.key == key(step=2) and summary.tasks_intended == 1
    assert (payload["owner_id"], payload["subject"]) == ("o1", "Call Ada")
    assert payload["due_at"] == (wednesday + timedelta(days=2)).isoformat()
    [enrollment] = enrollments(store)
    assert (enrollment.step, enrollment.status, enrollment.next_due_at) == (3, "completed", None)


# -- stop rules --------------------------------------------------------------------------------------

def test_a_reply_exits_with_exactly_one_task_for_the_owner(store: Store) -> None:
    enrolled(store)
    runner(store).run(MONDAY)
    executor_sent(store, key(), MONDAY)
    event(store, "reply.received", at=MONDAY + timedelta(hours=2), subject="Re: Hi", text="Call me")
    first = runner(store).run(MONDAY + timedelta(hours=2))
    runner(store).run(MONDAY + timedelta(days=5))
    [task] = rows(store, "create_task")
    assert task.key == effect_key("sequence_reply_task", "c1", "welcome", "1")
    assert json.loads(task.payload)["owner_id"] == "o1"
    [enrollment] = enrollments(store)
    assert (enrollment.status, enrollment.exit_reason, enrollment.next_due_at) == ("exited", "replied", None)
    assert [r.key for r in rows(store, "send_email")] == [key()]
    assert (first.exited, first.tasks_intended) == (1, 1)


@pytest.mark.parametrize("stop", ["unsubscribed", "bounce.received"])
def test_unsubscribe_or_bounce_exits_and_nothing_is_intended(store: Store, stop: str) -> None:
    enrolled(store)
    event(store, stop, at=MONDAY - timedelta(minutes=1))
    summary = runner(store).run(MONDAY)
    [enrollment] = enrollments(store)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", {"unsubscribed": "unsubscribed",
                                                                      "bounce.received": "bounced"}[stop])
    assert rows(store) == [] and summary.exited == 1


def test_a_cancelled_send_is_revived_with_a_fresh_payload_after_a_resume(store: Store) -> None:
    enrolled(store)
    run = runner(store, on_reply="pause")
    run.run(MONDAY)
    event(store, "reply.received", at=MONDAY + timedelta(minutes=1), text="Not now")
    executor_cancelled(store, key(), "replied", MONDAY + timedelta(minutes=2))
    run.run(MONDAY + timedelta(minutes=2))
    [enrollment] = enrollments(store)
    assert (enrollment.status, enrollment.next_due_at) == ("paused", None)
    assert rows(store, "send_email")[0].status == "cancelled"
    with store.session() as session:      # the contact's first name was corrected in the CRM meanwhile
        session.get(ContactRow, "c1").first_name = "Adaline"   # type: ignore[union-attr]
    event(store, "sequence.resumed", at=MONDAY + timedelta(hours=1), sequence="welcome")
    summary = run.run(MONDAY + timedelta(hours=1))
    [row] = rows(store, "send_email")
    assert (row.status, row.last_error, summary.sends_intended) == ("pending", None, 1)
    assert json.loads(row.payload)["email"]["subject"] == "Hi Adaline"
    assert len(rows(store, "create_task")) == 1          # the reply's task, once


# -- caps, holds, exits ------------------------------------------------------------------------------

def test_daily_cap_and_spacing_defer_sends_per_mailbox(store: Store) -> None:
    enrolled(store, "c1", "c2", "c3", "c4")
    run = runner(store, daily_cap_per_mailbox=2, spacing_minutes=10)
    summary = run.run(MONDAY)
    due = {e.contact_id: utc(e.next_due_at) for e in enrollments(store)}
    tuesday = datetime(2024, 5, 7, tzinfo=UTC)
    assert due == {"c1": None, "c2": MONDAY + timedelta(minutes=10), "c3": tuesday, "c4": tuesday}
    assert (summary.sends_intended, summary.deferred) == (1, 3)
    assert run.run(MONDAY + timedelta(minutes=10)).sends_intended == 1
    assert run.run(MONDAY + timedelta(hours=5)).sends_intended == 0           # the cap holds all day
    assert utc(enrollments(store)[2].next_due_at) == tuesday
    run.run(tuesday)                                                           # window closed at midnight
    assert utc(enrollments(store)[2].next_due_at) == tuesday + timedelta(hours=8)
    assert run.run(tuesday + timedelta(hours=8)).sends_intended == 1           # a new day, a new count
    assert len(rows(store, "send_email")) == 3


def test_a_template_error_holds_the_step_and_is_recorded(store: Store) -> None:
    enrolled(store)
    steps = [{"kind": "email", "subject": "About {{ contact.title }}", "body": "Hi"}]
    summary = runner(store, steps=steps).run(MONDAY)
    assert rows(store) == [] and summary.held == 1
    assert utc(enrollments(store)[0].next_due_at) == MONDAY + timedelta(hours=1)
    with store.session() as session:
        error = session.exec(select(SyncErrorRow).where(SyncErrorRow.source == "sequences")).one()
        session.get(ContactRow, "c1").properties = json.dumps({"title": "CTO"})  # type: ignore[union-attr]
    assert error.kind == "template_error" and "welcome step 1" in error.message and "title" in error.message
    assert runner(store, steps=steps).run(MONDAY + timedelta(hours=1)).sends_intended == 1
    assert json.loads(rows(store)[0].payload)["email"]["subject"] == "About CTO"


def test_no_mailbox_for_the_owner_holds_unless_the_sequence_names_one(store: Store) -> None:
    contact(store, "c1", owner="o2")
    event(store, "form.submitted", form="demo")
    assert runner(store).run(MONDAY).held == 1
    with store.session() as session:
        error = session.exec(select(SyncErrorRow).where(SyncErrorRow.source == "sequences")).one()
    assert error.kind == "no_mailbox" and "contact c1's owner o2 has no connected mailbox" in error.message
    readonly = SendingMailbox("team@rep.example", "o2", can_send=False)
    assert runner(store, readonly).run(MONDAY + timedelta(hours=1)).held == 1
    assert rows(store) == []
    later = MONDAY + timedelta(hours=2)
    assert runner(store, DANA, SHARED, from_mailbox="team@rep.example").run(later).sends_intended == 1
    email = json.loads(rows(store)[0].payload)["email"]
    assert (email["from_address"], email["message_id"]) == ("team@rep.example", f"<tl-{key()}@rep.example>")


def test_a_contact_without_an_email_address_exits(store: Store) -> None:
    contact(store, "c1", email=None)
    event(store, "form.submitted", form="demo")
    runner(store).run(MONDAY)
    [enrollment] = enrollments(store)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "no_email") and rows(store) == []


# -- plan --------------------------------------------------------------------------------------------

def _snapshot(store: Store) -> list[Any]:
    with store.session() as session:
        return [[row.model_dump() for row in session.exec(select(table)).all()]
                for table in (EnrollmentRow, OutboxRow, AuditRow, SyncErrorRow, RuleStateRow)]


def test_upcoming_is_a_dry_run_of_the_next_steps(store: Store) -> None:
    early = FRIDAY.replace(hour=7)                 # before the window opens: enrolment only, nothing due
    eight = FRIDAY.replace(hour=8)
    enrolled(store, "c1", "c2", at=early)
    contact(store, "c3", email="c3@acme.io", owner="o2")
    event(store, "form.submitted", "c3", early, form="demo")
    run = runner(store, spacing_minutes=10)
    run.run(early)
    before = _snapshot(store)
    planned = run.upcoming(early, early + timedelta(days=5))
    assert _snapshot(store) == before
    monday, tuesday = datetime(2024, 5, 13, 8, tzinfo=UTC), datetime(2024, 5, 14, 8, tzinfo=UTC)
    assert [(p.contact_id, p.step_index, p.due_at, p.note) for p in planned] == [
        ("c1", 0, eight, ""),
        ("c3", 0, eight, "held: contact c3's owner o2 has no connected mailbox"),
        ("c2", 0, eight + timedelta(minutes=10), "deferred: spacing"),
        ("c1", 1, monday, ""),                                   # +2 days is Sunday: Monday 08:00
        ("c2", 1, monday + timedelta(minutes=10), "deferred: spacing"),
        ("c1", 2, tuesday, ""),
        ("c2", 2, tuesday + timedelta(minutes=10), ""),
    ]
    assert planned[0] == PlannedStep("welcome", "c1", 0, "email", eight, "dana@rep.example", "Hi Ada", "c1@acme.io")
    assert planned[-1].kind == "task" and planned[-1].subject == "Call Ada" and planned[-1].mailbox is None


def test_score_conditions_read_the_values_scoring_wrote_onto_the_contact(store: Store) -> None:
    """`score.intent >= 25` in enroll_when (the pricing-page example) reads the contact's scoring field."""
    contact(store, "c1", threadline_intent="30")
    contact(store, "c2", email="bo@acme.io", first="Bo", threadline_intent="10")
    event(store, "form.submitted", "c1", form="demo")
    event(store, "form.submitted", "c2", form="demo")
    sequence = SequenceSettings.model_validate({**WELCOME, "enroll_when": {"score.intent": {">=": 25}}})
    SequenceRunner(store, compile_sequences([sequence]), (DANA,), public_url=PUBLIC_URL, unsubscribe_secret=SECRET,
                   score_fields={"intent": "threadline_intent"}).run(MONDAY)
    assert [e.contact_id for e in enrollments(store)] == ["c1"]


# -- the first pull's many events: keyset pages, a place saved in the window ------------------------------

def streamed_runner(store: Store) -> SequenceRunner:
    sequence = SequenceSettings.model_validate(WELCOME)
    return SequenceRunner(store, compile_sequences([sequence]), (DANA,), public_url=PUBLIC_URL,
                          unsubscribe_secret=SECRET, stream_above=10)


def many_forms(store: Store, n: int) -> list[str]:
    ids = [f"c{i:04d}" for i in range(n)]
    for cid in ids:
        contact(store, cid, email=f"{cid}@acme.io")
    with store.session() as session:
        record_events(session, [Event(id=event_id("form.submitted", cid), type="form.submitted", contact_id=cid,
                                      occurred_at=MONDAY, source="api", data={"form": "demo"}) for cid in ids])
    return ids


def test_a_window_larger_than_stream_above_pages_contacts_and_enrols_each_once(store: Store) -> None:
    ids = many_forms(store, 1200)                      # more than two keyset pages of 500
    summary = streamed_runner(store).run(MONDAY)
    assert summary.enrolled == 1200
    assert sorted(r.contact_id for r in enrollments(store)) == ids
    with store.session() as session:
        state = json.loads(session.get(RuleStateRow, "sequence_events_cursor").data)
    assert set(state) == {"seq"}                       # the window is closed: no place in it is left over
    assert streamed_runner(store).run(MONDAY).enrolled == 0


def test_a_window_left_half_done_goes_on_from_its_last_batch(store: Store) -> None:
    ids = many_forms(store, 1200)
    with store.session() as session:          # a pass that stopped after its batch ending at c0499
        session.add(RuleStateRow(name="sequence_events_cursor",
                                 data=json.dumps({"seq": 0, "until": 1200, "after": "c0499"})))
    summary = streamed_runner(store).run(MONDAY)
    assert summary.enrolled == 700
    assert sorted(r.contact_id for r in enrollments(store)) == ids[500:]
