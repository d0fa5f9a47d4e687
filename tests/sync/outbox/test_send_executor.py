"""SendExecutor over SMTP (real aiosmtpd + Sent on a real Dovecot) and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from tests.sync.outbox.send_world import (
    CONTACT,
    SEQUENCE,
    aware,
    enrollment,
    errors,
    log_intents,
    log_key,
    outbox_row,
    payload,
    reply_event,
    reply_mail,
    seed_send,
    set_row,
)
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.sending import build_mime
from threadline.adapters.smtp import SmtpSender
from threadline.rules.sequences.send_check import why_not_send
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.ingest import MailboxSync
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    yield opened
    opened.dispose()


@pytest.fixture
def smtp(smtp_server) -> Iterator[object]:
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


def smtp_sender(smtp_server, mailbox: ImapMailbox, password: str | None = None) -> SmtpSender:
    return SmtpSender(smtp_server.host, smtp_server.port, "starttls", username=smtp_server.username,
                      password=password or smtp_server.password, ssl_context=smtp_server.ssl_context(),
                      sent_folder_lookup=mailbox.find_in_sent, append_to_sent=mailbox.append_sent, timeout=5)


def executor(store: Store, mailbox: ImapMailbox, sender: SmtpSender, refresh: bool = True) -> SendExecutor:
    def ingest(address: str) -> None:
        assert address == mailbox.address
        MailboxSync(store, AddressPolicy()).run(mailbox, "owner-1")

    return SendExecutor(store, {mailbox.address: sender}, ingest if refresh else None, send_check=why_not_send,
                        mailbox_owners={mailbox.address: "owner-1"})


def received_ids(smtp_server) -> list[str]:
    return [email.message_from_bytes(m.raw, policy=email.policy.default)["Message-ID"] for m in smtp_server.messages]


def test_step_is_sent_once_with_our_headers_and_everything_recorded(store, mailbox, smtp):
    seeded = seed_send(store, mailbox.address)
    now = datetime.now(UTC)
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run(now)
    assert (summary.sent, summary.failed, summary.errors) == (1, 0, [])
    [received] = smtp.messages
    headers = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert headers["Message-ID"] == seeded.email.message_id
    assert headers["List-Unsubscribe"].strip() == seeded.email.headers["List-Unsubscribe"]   # may be folded
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mailbox.find_in_sent(seeded.email.message_id) is not None          # our copy, filed in Sent
    row = outbox_row(store, seeded.key)
    assert row.status == "done" and row.remote_id == seeded.email.message_id
    sent = payload(store, seeded.key)
    assert sent["sent"]["confirmed"] is True and "submitted_at" in sent
    advanced = enrollment(store)
    assert advanced.step == 1 and advanced.status == "active"
    assert aware(advanced.next_due_at) == aware(advanced.last_step_at) == now
    [logged] = log_intents(store)
    activity = json.loads(logged.payload)
    assert logged.key == log_key(seeded.email.message_id, mailbox.address)
    assert activity["direction"] == "outgoing" and activity["owner_id"] == "owner-1"
    again = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (again.sent, again.confirmed_from_sent) == (0, 0) and len(smtp.messages) == 1


def test_reply_step_carries_in_reply_to_and_references_and_the_last_step_completes(store, mailbox, smtp):
    first = seed_send(store, mailbox.address, contact_id="c-1", to="one@customer.example")
    second = seed_send(store, mailbox.address, contact_id="c-2", to="two@customer.example", step_index=1,
                       last_step=True, previous=first.email)
    executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    [reply] = [m for m in smtp.messages if m.rcpt_tos == ("two@customer.example",)]
    headers = email.message_from_bytes(reply.raw, policy=email.policy.default)
    assert headers["Message-ID"] == second.email.message_id
    assert headers["In-Reply-To"] == first.email.message_id and headers["References"] == first.email.message_id
    done = enrollment(store, "c-2")
    assert (done.step, done.status, done.next_due_at) == (2, "completed", None)


def test_a_reply_recorded_before_the_send_cancels_it_and_nothing_is_sent(store, mailbox, smtp):
    seeded = seed_send(store, mailbox.address)
    reply_event(store)
    now = datetime.now(UTC)
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run(now)
    assert (summary.sent, summary.cancelled) == (0, 1)
    assert smtp.messages == []
    row = outbox_row(store, seeded.key)
    assert (row.status, row.last_error) == ("cancelled", "replied")
    stopped = enrollment(store)
    assert stopped.step == 0 and aware(stopped.next_due_at) == now     # the runner applies the stop rules now
    assert log_intents(store) == []


def test_a_reply_that_lands_in_the_inbox_after_scheduling_is_read_before_sending_and_cancels(
        store, mailbox, smtp, imap_account):
    seeded = seed_send(store, mailbox.address)
    imap_account.deliver(reply_mail(mailbox.address))            # arrives after the row was intended
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (summary.sent, summary.cancelled) == (0, 1)
    assert smtp.messages == []
    assert outbox_row(store, seeded.key).last_error == "replied"


def test_an_enrollment_that_moved_on_or_ended_gets_no_email(store, mailbox, smtp):
    moved = seed_send(store, mailbox.address, contact_id="c-1", to="one@customer.example")
    ended = seed_send(store, mailbox.address, contact_id="c-2", to="two@customer.example",
                      enrollment_status="exited")
    with store.session() as session:
        moved_row = session.get(EnrollmentRow, ("welcome", "c-1", 1))
        ended_row = session.get(EnrollmentRow, ("welcome", "c-2", 1))
        moved_row.step, ended_row.exit_reason = 1, "bounced"      # the runner got there first
        session.add_all([moved_row, ended_row])
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (summary.sent, summary.cancelled) == (0, 2) and smtp.messages == []
    assert outbox_row(store, moved.key).last_error == "step_moved:1"
    assert outbox_row(store, ended.key).last_error == "bounced"       # the runner's reason, not just "exited"


def test_submitted_earlier_and_found_in_sent_is_recorded_not_resent(store, mailbox, smtp, imap_account):
    """A crash after the server accepted the mail and our copy was filed: the Sent check settles it."""
    seeded = seed_send(store, mailbox.address, extra={"submitted_at": (datetime.now(UTC) - timedelta(minutes=3))
                                                       .isoformat()})
    imap_account.deliver(build_mime(seeded.email), folder="Sent")
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (summary.sent, summary.confirmed_from_sent) == (0, 1)
    assert smtp.messages == []
    assert outbox_row(store, seeded.key).status == "done" and payload(store, seeded.key)["sent"]["confirmed"]
    assert enrollment(store).step == 1 and len(log_intents(store)) == 1


def test_submitted_over_smtp_without_a_copy_is_recorded_unconfirmed_and_never_resent(store, mailbox, smtp):
    """The server may have accepted it before we died: SMTP leaves no trace we could check, so no second copy."""
    seeded = seed_send(store, mailbox.address, extra={"submitted_at": (datetime.now(UTC) - timedelta(days=1))
                                                       .isoformat()})
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (summary.sent, summary.unconfirmed) == (0, 1)
    assert smtp.messages == []
    row = outbox_row(store, seeded.key)
    assert row.status == "done" and payload(store, seeded.key)["sent"]["confirmed"] is False
    assert enrollment(store).step == 1
    [warning] = errors(store, "send_unconfirmed")
    assert seeded.email.message_id in warning


def test_orphaned_in_flight_row_is_released_and_settled_by_the_sent_check(store, mailbox, smtp, imap_account):
    """A process killed mid-send leaves the row in flight: released (at once / after its lease), found in Sent."""
    seeded = seed_send(store, mailbox.address, extra={"submitted_at": datetime.now(UTC).isoformat()})
    imap_account.deliver(build_mime(seeded.email), folder="Sent")
    set_row(store, seeded.key, status="in_flight", lease_owner="dead:1", attempts=1,
            lease_until=datetime.now(UTC) - timedelta(seconds=1))
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert summary.confirmed_from_sent == 1 and smtp.messages == []
    assert outbox_row(store, seeded.key).status == "done"


def test_a_dropped_connection_after_data_is_settled_without_a_second_copy(store, mailbox, smtp):
    """The server kept the mail but we never heard 250: retried later, then recorded unconfirmed, not resent."""
    seeded = seed_send(store, mailbox.address)
    smtp.drop_after_data()
    first = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert (first.sent, first.retried) == (0, 1)
    row = outbox_row(store, seeded.key)
    assert row.status == "pending" and "submitted_at" in payload(store, seeded.key)
    set_row(store, seeded.key, next_attempt_at=datetime.now(UTC))
    second = executor(store, mailbox, smtp_sender(smtp, mailbox)).run()
    assert second.unconfirmed == 1
    assert received_ids(smtp) == [seeded.email.message_id]                 # exactly one copy ever


def test_refused_credentials_stop_the_mailbox_and_keep_the_rows(store, mailbox, smtp):
    first = seed_send(store, mailbox.address, contact_id="c-1", to="one@customer.example")
    second = seed_send(store, mailbox.address, contact_id="c-2", to="two@customer.example")
    summary = executor(store, mailbox, smtp_sender(smtp, mailbox, password="wrong")).run()
    assert summary.sent == 0 and summary.retried == 2 and len(summary.errors) == 1   # tried once, then held
    assert smtp.messages == []
    assert {outbox_row(store, k).status for k in (first.key, second.key)} == {"pending"}
    assert "submitted_at" not in payload(store, first.key)        # login failed before anything was handed over
    assert errors(store, "smtp.AuthExpired")


@pytest.mark.parametrize(("goes_on", "sent"), [(False, 0), (True, 1)])
def test_a_booked_meeting_cancels_the_step_unless_the_sequence_goes_on_after_one(store, mailbox, smtp, goes_on, sent):
    seed_send(store, mailbox.address)
    with store.session() as session:
        record_events(session, [Event(id="ev-meeting-1", type="meeting.booked", contact_id=CONTACT,
                                      occurred_at=datetime.now(UTC) - timedelta(hours=1), source="crm",
                                      data={"meeting_id": "m-1"})])
    check = partial(why_not_send, meeting_goes_on={SEQUENCE} if goes_on else set())
    run = SendExecutor(store, {mailbox.address: smtp_sender(smtp, mailbox)}, None, send_check=check,
                       mailbox_owners={mailbox.address: "owner-1"}).run(datetime.now(UTC))
    assert (run.sent, len(smtp.messages)) == (sent, sent)
