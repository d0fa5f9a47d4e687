"""Cursor expiry end to end: Gmail forgets a history id (404), Graph a delta token (410 syncStateNotFound).

The adapters' resync is tested in tests/adapters; tests/engine/test_gmail_to_hubspot.py covers a plain Gmail
expiry. Here the hard cases, each judged by the CRM sandbox's final state (every reply one activity): mail
arriving while a resync reads the backfill window, history expiring again right after a resync, and a Graph
delta expiry through the whole engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP, late_reply
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

LOGGED_AT_FIRST = 3          # the demo mailbox: three replies from known contacts, the rest skipped with reasons


def reply_from(sender: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, REP, subject
    msg["Date"], msg["Message-ID"] = format_datetime(datetime.now(UTC)), make_msgid(domain="customer.example")
    msg.set_content(f"{subject}: a new question for you.\n")
    return msg.as_bytes()


@pytest.fixture
def engine_on(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """engine_on(sandbox, mailbox): the demo's contacts and mailbox seeded, and an engine on a SQLite store."""
    opened: list[SyncEngine] = []

    def build(sandbox: SandboxServer, mailbox: str = "gmail") -> SyncEngine:
        seeded = seed_demo(sandbox, "hubspot", mailbox)
        config = demo_config(sandbox, f"sqlite:///{tmp_path / 'store.db'}", seeded, "hubspot", mailbox)
        opened.append(build_engine(parse_settings(config, tmp_path / "threadline.yaml", env={})))
        return opened[-1]

    yield build
    for engine in opened:
        engine.close()


def logged_subjects(sandbox: SandboxServer) -> list[str]:
    return sorted(e["properties"]["hs_email_subject"] for c in sandbox.hubspot.contacts
                  for e in sandbox.hubspot.emails_for(c.id))


def assert_each_once(sandbox: SandboxServer, count: int) -> None:
    subjects = logged_subjects(sandbox)
    assert len(subjects) == count, subjects
    keys = [e["properties"].get("threadline_key") for c in sandbox.hubspot.contacts
            for e in sandbox.hubspot.emails_for(c.id)]
    assert len(set(keys)) == len(keys) == count


def test_gmail_mail_arriving_while_the_resync_reads_the_backfill_is_logged_once(
        sandbox: SandboxServer, engine_on) -> None:  # type: ignore[no-untyped-def]
    engine = engine_on(sandbox)
    assert engine.run_once().outbox.performed["log_email"] == LOGGED_AT_FIRST
    sandbox.gmail.deliver(REP, late_reply())
    sandbox.gmail.expire_history_before(REP, sandbox.gmail.history_id(REP) + 1)
    # The resync captures the history id, then lists the window: hold that listing while a reply arrives, so
    # the reply is both in the listing and in the history the resync catches up from.
    sandbox.faults.add(Fault(provider="gmail", kind="slow", delay=1.0, method="GET",
                             path_prefix="/gmail/v1/users/me/messages"))
    cycle = threading.Thread(target=lambda: results.append(engine.run_once()))
    results: list = []
    cycle.start()
    while not sandbox.faults.fired.get("slow") and cycle.is_alive():
        threading.Event().wait(0.02)
    sandbox.gmail.deliver(REP, reply_from("carlos@globex.example", "Mid-resync question"))
    cycle.join(30)

    [second] = results
    assert second.mailboxes[0].resync_reason and "history" in second.mailboxes[0].resync_reason
    assert second.outbox.performed["log_email"] == 2
    assert_each_once(sandbox, LOGGED_AT_FIRST + 2)
    assert "Mid-resync question" in logged_subjects(sandbox)
    assert engine.run_once().outbox.performed.get("log_email", 0) == 0


def test_gmail_history_expiring_again_right_after_a_resync_loses_and_repeats_nothing(
        sandbox: SandboxServer, engine_on) -> None:  # type: ignore[no-untyped-def]
    engine = engine_on(sandbox)
    engine.run_once()
    sandbox.gmail.deliver(REP, late_reply())
    # Two 404s: the incremental read, then the catch-up after the resync's backfill.
    sandbox.faults.add(Fault(provider="gmail", kind="expired_history", count=2))
    second = engine.run_once()
    sandbox.gmail.deliver(REP, reply_from("jane.doe@acme-corp.example", "After the second expiry"))
    third = engine.run_once()

    assert second.mailboxes[0].resync_reason
    assert sandbox.faults.fired.get("expired_history") == 2
    assert third.mailboxes[0].error is None
    assert_each_once(sandbox, LOGGED_AT_FIRST + 2)
    assert {"Intro call", "After the second expiry"} <= set(logged_subjects(sandbox))


@pytest.mark.parametrize("expire", ["token", "fault"])
def test_graph_delta_expiry_resyncs_through_the_engine_without_duplicates(
        tls_sandbox: SandboxServer, engine_on, expire: str) -> None:  # type: ignore[no-untyped-def]
    """410 syncStateNotFound: from an expired delta token, or injected on the next delta call."""
    engine = engine_on(tls_sandbox, "outlook")
    assert engine.run_once().outbox.performed["log_email"] == LOGGED_AT_FIRST
    tls_sandbox.graph.deliver(REP, late_reply())
    if expire == "token":
        tls_sandbox.graph.expire_delta(REP)
    else:
        tls_sandbox.faults.add(Fault(provider="graph", kind="expired_history", path_prefix="/v1.0/users/"))
    second = engine.run_once()

    [mailbox] = second.mailboxes
    assert mailbox.resync_reason and "410" in mailbox.resync_reason
    assert mailbox.duplicates >= LOGGED_AT_FIRST          # the folder was read again, and recognised
    assert second.outbox.performed["log_email"] == 1
    assert_each_once(tls_sandbox, LOGGED_AT_FIRST + 1)
    tls_sandbox.graph.deliver(REP, reply_from("carlos@globex.example", "After the resync"))
    assert engine.run_once().outbox.performed["log_email"] == 1
    assert_each_once(tls_sandbox, LOGGED_AT_FIRST + 2)
