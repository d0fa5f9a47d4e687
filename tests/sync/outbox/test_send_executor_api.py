"""SendExecutor through the Gmail API and Microsoft Graph, against the sandbox over real HTTP."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.sandbox import gmail_on, outlook_on
from tests.sync.outbox.send_world import (
    enrollment,
    errors,
    log_intents,
    log_key,
    outbox_row,
    payload,
    reply_mail,
    seed_send,
    set_row,
)
from threadline.adapters.gmail import GmailAdapter
from threadline.adapters.outlook import OutlookAdapter
from threadline.rules.sequences.send_check import why_not_send
from threadline.sandbox.faults import Fault
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.ingest import MailboxSync
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store

GMAIL_REP = DEFAULT_USER
GRAPH_REP = "rep@contoso.example"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = Store(sqlite_url)
    yield opened
    opened.dispose()


@pytest.fixture
def gmail(sandbox) -> Iterator[GmailAdapter]:
    with gmail_on(sandbox, GMAIL_REP) as adapter:
        yield adapter


@pytest.fixture
def outlook(tls_sandbox) -> Iterator[OutlookAdapter]:
    with outlook_on(tls_sandbox, GRAPH_REP) as adapter:
        yield adapter


def executor(store: Store, adapter: GmailAdapter | OutlookAdapter) -> SendExecutor:
    def ingest(address: str) -> None:
        MailboxSync(store, AddressPolicy()).run(adapter, "owner-1")

    return SendExecutor(store, {adapter.address: adapter}, ingest, send_check=why_not_send,
                        mailbox_owners={adapter.address: "owner-1"})


def gmail_copies(sandbox, message_id: str) -> list:
    return [m for m in sandbox.gmail.messages(GMAIL_REP) if m.header("Message-ID") == message_id]


def graph_copies(sandbox, message_id: str) -> list:
    return [m for m in sandbox.graph.messages(GRAPH_REP, "sentitems") if m.envelope.internet_message_id == message_id]


# -- Gmail ---------------------------------------------------------------------------------------------

def test_gmail_sends_each_step_once_and_the_next_step_joins_the_thread(store, sandbox, gmail):
    first = seed_send(store, GMAIL_REP)
    assert executor(store, gmail).run().sent == 1
    [stored] = gmail_copies(sandbox, first.email.message_id)
    headers = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert headers["List-Unsubscribe"].strip() == first.email.headers["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = payload(store, first.key)["sent"]
    assert (sent["provider_id"], sent["thread_id"]) == (stored.id, stored.thread_id)
    assert outbox_row(store, first.key).remote_id == stored.id
    assert enrollment(store).step == 1
    # The runner threads step 2 from step 1's done row; the executor hands it over as it is.
    second = seed_send(store, GMAIL_REP, step_index=1, previous=first.email, thread_id=sent["thread_id"])
    assert executor(store, gmail).run().sent == 1
    [reply] = gmail_copies(sandbox, second.email.message_id)
    assert reply.thread_id == stored.thread_id
    assert email.message_from_bytes(reply.raw, policy=email.policy.default)["In-Reply-To"] == first.email.message_id
    assert {r.key for r in log_intents(store)} == {log_key(first.email.message_id, GMAIL_REP),
                                                   log_key(second.email.message_id, GMAIL_REP)}


def test_gmail_submitted_without_a_copy_waits_for_visibility_then_sends_once(store, sandbox, gmail):
    handed_over = datetime.now(UTC) - timedelta(minutes=1)
    seeded = seed_send(store, GMAIL_REP, extra={"submitted_at": handed_over.isoformat()})
    early = executor(store, gmail).run(handed_over + timedelta(seconds=30))       # the copy may still show up
    assert (early.sent, early.retried) == (0, 1)
    assert outbox_row(store, seeded.key).status == "pending" and gmail_copies(sandbox, seeded.email.message_id) == []
    set_row(store, seeded.key, next_attempt_at=datetime.now(UTC))
    late = executor(store, gmail).run(handed_over + gmail.sent_visibility + timedelta(seconds=1))
    assert late.sent == 1
    assert len(gmail_copies(sandbox, seeded.email.message_id)) == 1
    assert executor(store, gmail).run().sent == 0


def test_gmail_throttling_past_the_adapters_retries_is_retried_later_and_sends_once(store, sandbox, gmail):
    seeded = seed_send(store, GMAIL_REP)
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=2, delay=0.01, path_prefix="/gmail/",
                             method="POST"))
    first = executor(store, gmail).run()
    assert (first.sent, first.retried) == (0, 1)
    row = outbox_row(store, seeded.key)
    assert row.status == "pending" and "RateLimited" in (row.last_error or "")
    assert "submitted_at" not in payload(store, seeded.key)         # refused outright: nothing was handed over
    assert gmail_copies(sandbox, seeded.email.message_id) == []
    assert executor(store, gmail).run().sent == 0                   # not due yet: it backs off
    set_row(store, seeded.key, next_attempt_at=datetime.now(UTC))  # ... until the backoff has passed
    second = executor(store, gmail).run()
    assert second.sent == 1
    assert len(gmail_copies(sandbox, seeded.email.message_id)) == 1


def test_gmail_throttled_sent_check_keeps_the_earlier_hand_over(store, sandbox, gmail):
    """Only a refused *send* proves nothing went out; a throttled look-up in Sent proves nothing at all."""
    handed_over = datetime.now(UTC) - timedelta(seconds=10)
    seeded = seed_send(store, GMAIL_REP, extra={"submitted_at": handed_over.isoformat()})
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=2, delay=0.01, path_prefix="/gmail/",
                             method="GET"))
    summary = executor(store, gmail).run()
    assert (summary.sent, summary.retried) == (0, 1)
    assert payload(store, seeded.key)["submitted_at"] == handed_over.isoformat()
    set_row(store, seeded.key, next_attempt_at=datetime.now(UTC))
    assert executor(store, gmail).run(handed_over + timedelta(seconds=30)).sent == 0   # still waits for the copy
    assert gmail_copies(sandbox, seeded.email.message_id) == []


def test_gmail_reply_that_arrived_after_scheduling_cancels_the_send(store, sandbox, gmail):
    seeded = seed_send(store, GMAIL_REP)
    executor(store, gmail).refresh(GMAIL_REP)                          # the mailbox was synced before ...
    sandbox.gmail.deliver(GMAIL_REP, reply_mail(GMAIL_REP))              # ... and the reply lands after
    summary = executor(store, gmail).run()
    assert (summary.sent, summary.cancelled) == (0, 1)
    assert gmail_copies(sandbox, seeded.email.message_id) == []
    assert outbox_row(store, seeded.key).status == "cancelled"


def test_gmail_refusing_the_mail_fails_the_row_and_shows_it_in_status(store, sandbox, gmail):
    seeded = seed_send(store, GMAIL_REP)
    sandbox.faults.add(Fault(provider="gmail", kind="error", status=400, count=1, path_prefix="/gmail/",
                             method="POST"))
    summary = executor(store, gmail).run()
    assert (summary.sent, summary.failed) == (0, 1)
    assert outbox_row(store, seeded.key).status == "failed"
    assert errors(store, "gmail.PermanentError")
    assert enrollment(store).step == 0 and log_intents(store) == []


# -- Microsoft Graph -----------------------------------------------------------------------------------

def test_graph_sends_once_with_our_message_id_and_unsubscribe_headers(store, tls_sandbox, outlook):
    seeded = seed_send(store, GRAPH_REP)
    summary = executor(store, outlook).run()
    assert summary.sent == 1
    [stored] = graph_copies(tls_sandbox, seeded.email.message_id)
    headers = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert headers["List-Unsubscribe"].strip() == seeded.email.headers["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert outbox_row(store, seeded.key).status == "done" and enrollment(store).step == 1
    assert [r.key for r in log_intents(store)] == [log_key(seeded.email.message_id, GRAPH_REP)]


def test_graph_reply_step_threads_by_references(store, tls_sandbox, outlook):
    first = seed_send(store, GRAPH_REP)
    executor(store, outlook).run()
    second = seed_send(store, GRAPH_REP, step_index=1, previous=first.email)
    executor(store, outlook).run()
    [reply] = graph_copies(tls_sandbox, second.email.message_id)
    [original] = graph_copies(tls_sandbox, first.email.message_id)
    assert reply.conversation_id == original.conversation_id


def test_graph_submitted_recently_without_a_copy_is_not_sent_again_yet(store, tls_sandbox, outlook):
    seeded = seed_send(store, GRAPH_REP, extra={"submitted_at": (datetime.now(UTC) - timedelta(minutes=5))
                                                .isoformat()})
    summary = executor(store, outlook).run()
    assert (summary.sent, summary.retried) == (0, 1)       # Exchange may file the copy up to 10 minutes late
    assert graph_copies(tls_sandbox, seeded.email.message_id) == []
    assert outbox_row(store, seeded.key).status == "pending"
