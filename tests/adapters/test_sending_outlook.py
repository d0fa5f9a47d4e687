"""Sending through OutlookAdapter against the Graph sandbox over real HTTPS (sendMail with MIME)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest

from tests.fixtures.sandbox import outlook_on
from threadline.adapters.errors import RateLimited
from threadline.adapters.outlook import OutlookAdapter
from threadline.adapters.sending import OutgoingEmail, new_message_id
from threadline.sandbox.faults import Fault

REP = "rep@contoso.example"
UNSUBSCRIBE = {"List-Unsubscribe": "<https://threadline.example/u/abc>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def outgoing(n: int = 1, **fields) -> OutgoingEmail:
    values = dict(key=f"enrol-1/step-{n}", message_id=new_message_id("contoso.example"), from_address=REP,
                  to=("buyer@customer.example",), subject="Welcome", text=f"Hello, step {n}.", headers=UNSUBSCRIBE)
    return OutgoingEmail(**{**values, **fields})


@pytest.fixture
def adapter(tls_sandbox) -> Iterator[OutlookAdapter]:
    with outlook_on(tls_sandbox, REP) as outlook:
        yield outlook


def sent_copies(sandbox, message_id: str) -> list:
    return [m for m in sandbox.graph.messages(REP, "sentitems") if m.envelope.internet_message_id == message_id]


def test_send_files_one_copy_in_sent_items_with_our_message_id_and_unsubscribe_headers(tls_sandbox, adapter):
    mail = outgoing()
    adapter.send(mail)
    [stored] = sent_copies(tls_sandbox, mail.message_id)
    headers = email.message_from_bytes(stored.raw, policy=email.policy.default)
    assert headers["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_find_sent_finds_our_message_and_none_for_unknown_ids(tls_sandbox, adapter):
    mail = outgoing()
    assert adapter.find_sent(mail.message_id) is None
    adapter.send(mail)
    found = adapter.find_sent(mail.message_id)
    [stored] = sent_copies(tls_sandbox, mail.message_id)
    assert found is not None and found.provider_id == stored.id and found.thread_id == stored.conversation_id
    assert adapter.find_sent(new_message_id("contoso.example")) is None


def test_reply_step_joins_the_conversation_through_its_references(tls_sandbox, adapter):
    first = outgoing(1)
    adapter.send(first)
    adapter.send(outgoing(2, subject="RE: Welcome", in_reply_to=first.message_id, references=(first.message_id,)))
    conversations = {m.conversation_id for m in tls_sandbox.graph.messages(REP, "sentitems")}
    assert len(conversations) == 1


def test_throttling_that_outlasts_retries_surfaces_as_rate_limited_and_nothing_is_sent(tls_sandbox, adapter):
    adapter.tokens.token()                       # the token request is not what we throttle
    tls_sandbox.faults.add(Fault(provider="graph", kind="throttle", count=5, delay=0.01,
                                 path_prefix="/v1.0/users/", method="POST"))
    mail = outgoing()
    with pytest.raises(RateLimited):
        adapter.send(mail)
    assert sent_copies(tls_sandbox, mail.message_id) == []


def test_a_refused_send_429_is_retried_and_sends_exactly_once(tls_sandbox, adapter):
    tls_sandbox.faults.add(Fault(provider="graph", kind="throttle", count=1, delay=0.01,
                                 path_prefix="/v1.0/users/", method="POST"))
    mail = outgoing()
    adapter.send(mail)
    assert len(sent_copies(tls_sandbox, mail.message_id)) == 1


def test_on_submit_runs_before_each_attempt_and_before_the_copy_exists(tls_sandbox, adapter):
    adapter.tokens.token()
    tls_sandbox.faults.add(Fault(provider="graph", kind="throttle", count=1, delay=0.01,
                                 path_prefix="/v1.0/users/", method="POST"))
    mail = outgoing()
    seen: list[int] = []
    adapter.send(mail, on_submit=lambda: seen.append(len(sent_copies(tls_sandbox, mail.message_id))))
    assert seen == [0, 0] and len(sent_copies(tls_sandbox, mail.message_id)) == 1
