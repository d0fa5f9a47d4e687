"""Sending through GmailAdapter against the Gmail sandbox over real HTTP (official client)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest

from tests.fixtures.sandbox import gmail_on
from threadline.adapters.errors import RateLimited
from threadline.adapters.gmail import GmailAdapter
from threadline.adapters.sending import OutgoingEmail, new_message_id
from threadline.sandbox.faults import Fault
from threadline.sandbox.google_oauth import DEFAULT_USER

REP = DEFAULT_USER
UNSUBSCRIBE = {"List-Unsubscribe": "<https://threadline.example/u/abc>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def outgoing(n: int = 1, **fields) -> OutgoingEmail:
    values = dict(key=f"enrol-1/step-{n}", message_id=new_message_id("rep.example"), from_address=REP,
                  to=("buyer@customer.example",), subject="Welcome", text=f"Hello, step {n}.", headers=UNSUBSCRIBE)
    return OutgoingEmail(**{**values, **fields})


@pytest.fixture
def adapter(sandbox) -> Iterator[GmailAdapter]:
    with gmail_on(sandbox, REP) as gmail:
        yield gmail


def sent_copies(sandbox, message_id: str) -> list:
    return [m for m in sandbox.gmail.messages(REP) if m.header("Message-ID") == message_id]


def test_send_files_one_message_in_sent_with_our_message_id_and_headers(sandbox, adapter):
    mail = outgoing()
    ref = adapter.send(mail)
    [stored] = sent_copies(sandbox, mail.message_id)
    assert ref.provider_id == stored.id and ref.thread_id == stored.thread_id
    assert "SENT" in stored.labels
    headers = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert headers["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_reply_step_joins_the_thread_by_thread_id(sandbox, adapter):
    first = adapter.send(outgoing(1))
    second = adapter.send(outgoing(2, subject="Re: Welcome", thread_id=first.thread_id,
                                   in_reply_to=first.message_id, references=(first.message_id,)))
    assert second.thread_id == first.thread_id
    assert [m.id for m in sandbox.gmail.mailboxes.of(REP).thread(first.thread_id)] == [first.provider_id,
                                                                                   second.provider_id]


def test_find_sent_finds_our_message_and_none_for_unknown_ids(sandbox, adapter):
    mail = outgoing()
    assert adapter.find_sent(mail.message_id) is None
    ref = adapter.send(mail)
    assert adapter.find_sent(mail.message_id) == ref
    assert adapter.find_sent(new_message_id("rep.example")) is None


def test_a_refused_send_429_is_retried_once_and_sends_exactly_once(sandbox, adapter):
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=1, delay=0.01, path_prefix="/gmail/",
                             method="POST"))
    mail = outgoing()
    adapter.send(mail)
    assert len(sent_copies(sandbox, mail.message_id)) == 1


def test_throttling_that_outlasts_retries_surfaces_as_rate_limited_and_nothing_is_sent(sandbox, adapter):
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=5, delay=0.01, path_prefix="/gmail/",
                             method="POST"))
    mail = outgoing()
    with pytest.raises(RateLimited):
        adapter.send(mail)
    assert sent_copies(sandbox, mail.message_id) == []


def test_on_submit_runs_before_each_attempt_and_before_the_copy_exists(sandbox, adapter):
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", count=1, delay=0.01, path_prefix="/gmail/",
                             method="POST"))
    mail = outgoing()
    seen: list[int] = []
    adapter.send(mail, on_submit=lambda: seen.append(len(sent_copies(sandbox, mail.message_id))))
    assert seen == [0, 0] and len(sent_copies(sandbox, mail.message_id)) == 1
