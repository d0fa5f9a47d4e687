"""A reply counts for a sequence only when it came after the enrolment, whatever order things are seen in.

Mail times are coarse (a Date header and an IMAP INTERNALDATE have whole seconds), so a reply stamped in
the very second of the enrolment is ambiguous by its time alone. The store knows more: a reply it already
held when the contact was enrolled predates the enrolment and belongs to an earlier conversation, while
one that arrives afterwards stops the sequence even when its stamp is a fraction of a second earlier.
Every case runs on SQLite and PostgreSQL, through the sequence runner and the send executor's last check
(``why_not_send``), so the two can never disagree. Every ``now`` is fixed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from threadline.rules.sequences import Enrollment, SequenceSettings, compile_sequences, stop_reason
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.rules.sequences.send_check import why_not_send
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.outbox.send_records import SendRow
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EnrollmentRow, OutboxRow

#: The enrolment happens at a fraction of a second, as a real clock gives it (Monday, inside the window).
ENROL = datetime(2024, 5, 6, 10, 0, 0, 700_000, tzinfo=UTC)
#: The whole second of the enrolment: what a Date header or IMAP INTERNALDATE written in it says.
SAME_SECOND = ENROL.replace(microsecond=0)
DANA = SendingMailbox("dana@rep.example", "o1", display_name="Dana Scully")
OUTREACH: dict[str, Any] = {
    "name": "outreach", "enroll_on": "form.submitted", "on_reply": "exit",
    "window": {"start": "00:00", "end": "23:59:59", "days": [0, 1, 2, 3, 4, 5, 6]},
    "steps": [{"kind": "email", "subject": "Hi {{ contact.firstname }}", "body": "Hello\n{{ unsubscribe_url }}"},
              {"kind": "email", "delay": {"days": 2}, "subject": "Re: Hi", "body": "Following up"}],
}


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def runner(store: Store, **overrides: Any) -> SequenceRunner:
    settings = SequenceSettings.model_validate({**OUTREACH, **overrides})
    return SequenceRunner(store, compile_sequences([settings]), [DANA], public_url="https://tl.example.com",
                          unsubscribe_secret="s3cret")


def prospect(store: Store) -> None:
    """Ada, owned by Dana, who submitted the form a minute before the enrolment run."""
    with store.session() as session:
        session.add(ContactRow(crm_id="c1", primary_email="ada@acme.io", first_name="Ada", owner_id="o1",
                               updated_at=ENROL, properties="{}"))
        record_events(session, [Event(id=event_id("form.submitted", "c1"), type="form.submitted", contact_id="c1",
                                      occurred_at=ENROL - timedelta(minutes=1), source="api", data={})])


def reply_lands(store: Store, stamped: datetime, n: int = 1) -> None:
    """The mailbox sync stores Ada's reply n, stamped as mail_events stamps it (the later of Date and receipt)."""
    with store.session() as session:
        record_events(session, [Event(
            id=event_id("reply.received", f"<reply-{n}@acme.io>", "c1"), type="reply.received", contact_id="c1",
            occurred_at=stamped, source="mailbox:dana@rep.example",
            data={"subject": "Re: earlier thread", "message_id": f"<reply-{n}@acme.io>", "text": "Thanks"})])


def enrollment(store: Store) -> EnrollmentRow:
    with store.session() as session:
        [row] = session.exec(select(EnrollmentRow)).all()
        session.expunge(row)
        return row


def outbox(store: Store, kind: str) -> list[OutboxRow]:
    with store.session() as session:
        return list(session.exec(select(OutboxRow).where(OutboxRow.kind == kind).order_by(col(OutboxRow.id))).all())


def executor_check(store: Store, now: datetime) -> str | None:
    """The send executor's last word on the step-1 mail: why it must not go out, or None."""
    [row] = outbox(store, "send_email")
    with store.session() as session:
        return why_not_send(session, SendRow.of(row), now)


def assert_sequence_goes_on(store: Store, now: datetime) -> None:
    """Step 1 is intended and the executor would send it; no reply task; a later cycle changes nothing."""
    row = enrollment(store)
    assert (row.status, row.exit_reason) == ("active", None)
    assert [r.status for r in outbox(store, "send_email")] == ["pending"]
    assert executor_check(store, now) is None
    runner(store).run(now + timedelta(hours=1))
    assert (enrollment(store).status, executor_check(store, now + timedelta(hours=1))) == ("active", None)
    assert outbox(store, "create_task") == []


def assert_sequence_stopped_by_the_reply(store: Store, now: datetime) -> None:
    """Exited as "replied" with one follow-up task, and the executor refuses the pending step-1 mail."""
    row = enrollment(store)
    assert (row.status, row.exit_reason, row.next_due_at) == ("exited", "replied", None)
    assert executor_check(store, now) == "replied"
    runner(store).run(now + timedelta(hours=1))
    assert len(outbox(store, "create_task")) == 1


# -- a reply the store held before the enrolment ----------------------------------------------------------

@pytest.mark.parametrize("stamped", [
    pytest.param(ENROL - timedelta(days=1), id="a-day-before"),
    pytest.param(ENROL - timedelta(seconds=1.7), id="the-second-before"),
    pytest.param(SAME_SECOND, id="whole-second-stamp-in-the-enrolment-second"),
    pytest.param(ENROL - timedelta(seconds=0.2), id="a-fifth-of-a-second-before"),
    pytest.param(ENROL + timedelta(seconds=0.3), id="mail-server-clock-ahead"),
])
@pytest.mark.parametrize("on_reply", ["exit", "pause"])
def test_a_reply_held_before_the_enrolment_never_stops_the_new_sequence(store: Store, stamped: datetime,
                                                                         on_reply: str) -> None:
    prospect(store)
    reply_lands(store, stamped)
    summary = runner(store, on_reply=on_reply).run(ENROL)
    assert (summary.enrolled, summary.exited, summary.sends_intended) == (1, 0, 1)
    assert_sequence_goes_on(store, ENROL + timedelta(seconds=5))


# -- a reply that arrives after the enrolment ---------------------------------------------------------------

@pytest.mark.parametrize("stamped", [
    pytest.param(SAME_SECOND, id="whole-second-stamp-in-the-enrolment-second"),
    pytest.param(ENROL + timedelta(seconds=0.2), id="just-after"),
    pytest.param(ENROL + timedelta(hours=3), id="hours-after"),
])
def test_a_reply_arriving_after_the_enrolment_stops_the_sequence(store: Store, stamped: datetime) -> None:
    prospect(store)
    runner(store).run(ENROL)
    reply_lands(store, stamped)
    now = max(stamped, ENROL) + timedelta(seconds=5)
    assert executor_check(store, now) == "replied"        # the send right after the reply is refused
    summary = runner(store).run(now)
    assert (summary.exited, summary.tasks_intended) == (1, 1)
    assert_sequence_stopped_by_the_reply(store, now)


def test_a_reply_written_before_the_enrolment_but_read_later_does_not_stop_it(store: Store) -> None:
    """The mailbox was pulled after the sequence ran: the reply's time, a full second before, says it predates."""
    prospect(store)
    runner(store).run(ENROL)
    reply_lands(store, ENROL - timedelta(seconds=1.7))
    runner(store).run(ENROL + timedelta(seconds=5))
    assert_sequence_goes_on(store, ENROL + timedelta(seconds=5))


@pytest.mark.parametrize("order", ["reply-then-enrolment", "enrolment-then-reply"])
def test_the_same_reply_in_the_enrolment_second_is_decided_by_what_came_first(store: Store, order: str) -> None:
    """One reply stamped in the enrolment's second, seen in either order: the order decides, every time."""
    prospect(store)
    if order == "reply-then-enrolment":
        reply_lands(store, SAME_SECOND)
    runner(store).run(ENROL)
    if order == "enrolment-then-reply":
        reply_lands(store, SAME_SECOND)
    now = ENROL + timedelta(seconds=5)
    runner(store).run(now)
    if order == "reply-then-enrolment":
        assert_sequence_goes_on(store, now)
    else:
        assert_sequence_stopped_by_the_reply(store, now)


def test_a_second_reply_after_the_enrolment_stops_it_though_an_earlier_one_did_not(store: Store) -> None:
    """The earlier reply is set aside by itself, not the contact: a new reply in the same second still counts."""
    prospect(store)
    reply_lands(store, SAME_SECOND, n=1)
    runner(store).run(ENROL)
    assert enrollment(store).status == "active"
    reply_lands(store, SAME_SECOND, n=2)
    now = ENROL + timedelta(seconds=5)
    runner(store).run(now)
    assert_sequence_stopped_by_the_reply(store, now)


def test_replaying_the_held_reply_after_a_restart_changes_nothing(store: Store) -> None:
    """Ingestion is at least once: the same reply stored again (same id) after the enrolment is not new."""
    prospect(store)
    reply_lands(store, SAME_SECOND)
    runner(store).run(ENROL)
    reply_lands(store, SAME_SECOND)
    runner(store).run(ENROL + timedelta(minutes=1))
    assert_sequence_goes_on(store, ENROL + timedelta(minutes=1))
    assert json.loads(outbox(store, "send_email")[0].payload)["step_index"] == 0


# -- the pure rule ------------------------------------------------------------------------------------------

def reply_event(stamped: datetime, n: int = 1) -> Event:
    return Event(id=f"reply-{n}", type="reply.received", contact_id="c1", occurred_at=stamped,
                 source="mailbox:dana@rep.example", data={})


def test_only_the_runners_own_note_for_this_very_enrollment_sets_a_reply_aside() -> None:
    rules = compile_sequences([SequenceSettings.model_validate(OUTREACH)])
    first = Enrollment("outreach", "c1", ENROL)
    reply = reply_event(SAME_SECOND)
    [note] = rules.replies_before_enrolment(first, [reply, reply_event(ENROL - timedelta(seconds=2), n=2)])
    assert (note.data, note.source) == ({"sequence": "outreach", "generation": 1, "reply": "reply-1"}, "sequences")
    assert stop_reason(first, [reply, note], ENROL) is None
    posted = note.model_copy(update={"source": "api"})            # POST /events cannot silence a reply
    assert stop_reason(first, [reply, posted], ENROL) == "replied"
    again = Enrollment("outreach", "c1", ENROL, generation=2)      # a note is per enrolment generation
    assert stop_reason(again, [reply, note], ENROL) == "replied"
