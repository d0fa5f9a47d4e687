"""The Gmail simulator's mailbox rules, through its Python API: search syntax, threading, history retention."""

from __future__ import annotations

import pytest

from threadline.sandbox.gmail.conversations import base_subject
from threadline.sandbox.gmail.errors import GoogleError
from threadline.sandbox.gmail.mailbox import HistoryExpired, Mailbox
from threadline.sandbox.gmail.query import compile_query


def raw(n: int, subject: str = "Hello", refs: str = "", sender: str = "a@customer.example") -> bytes:
    return (f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{n}@x>\r\n{refs}\r\nBody {n}\r\n").encode()


def test_query_supports_dates_labels_negation_and_or_groups():
    box = Mailbox("rep@example.com")
    old = box.add(raw(1), ["INBOX"], internal_date=1_000_000)
    sent = box.add(raw(2), ["SENT"], internal_date=5_000_000)
    spam = box.add(raw(3, sender="b@spam.example"), ["SPAM"], internal_date=6_000_000)
    matching = lambda q: {m.id for m in box.snapshot() if compile_query(q)(m)}  # noqa: E731
    assert matching("after:2000") == {sent.id, spam.id}
    assert matching("before:2000 in:inbox") == {old.id}
    assert matching("{in:inbox in:sent}") == {old.id, sent.id}
    assert matching("in:inbox OR in:spam") == {old.id, spam.id}
    assert matching("-in:spam from:customer.example") == {old.id, sent.id}
    assert matching("after:1970/01/01 (label:SENT OR label:SPAM)") == {sent.id, spam.id}


def test_unknown_search_operator_is_a_400():
    with pytest.raises(GoogleError) as raised:
        compile_query("bogus:thing")
    assert raised.value.code == 400


def test_threading_needs_a_reference_and_the_same_base_subject():
    box = Mailbox("rep@example.com")
    first = box.add(raw(1, "Pricing"), ["INBOX"])
    reply = box.add(raw(2, "RE: Fwd: pricing", "In-Reply-To: <1@x>\r\n"), ["INBOX"])
    unrelated = box.add(raw(3, "Pricing"), ["INBOX"])
    renamed = box.add(raw(4, "New topic", "References: <1@x>\r\n"), ["INBOX"])
    assert reply.thread_id == first.thread_id == first.id
    assert unrelated.thread_id == unrelated.id and renamed.thread_id == renamed.id
    assert base_subject("Re: AW: Re[2]:  Hello  world") == "hello world"


def test_history_ids_increase_and_label_changes_are_recorded():
    box = Mailbox("rep@example.com")
    start = box.history_id
    msg = box.add(raw(1), ["INBOX"])
    box.modify(msg.id, add=["STARRED"], remove=["INBOX"])
    kinds = [r.kind for r in box.history_after(start)]
    assert kinds == ["messageAdded", "labelAdded", "labelRemoved"]
    assert [r.id for r in box.history_after(start)] == [start + 1, start + 2, start + 3]
    assert box.history_id == start + 3 == msg.history_id


def test_retention_expires_old_start_ids():
    box = Mailbox("rep@example.com", retention=2)
    start = box.history_id
    for n in range(4):
        box.add(raw(n), ["INBOX"])
    with pytest.raises(HistoryExpired):
        box.history_after(start)
    assert [r.id for r in box.history_after(start + 2)] == [start + 3, start + 4]
