"""Sequence sends over a real SMTP server (aiosmtpd) that fails DATA: 421/451 answers and connections dropped
mid-DATA. Counted at the far end: no step arrives twice; a refused step is sent again and arrives once; a step
whose outcome is unknown is recorded as sent, unconfirmed, and reported."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fixtures.smtp import starttls_controller
from tests.sync.outbox.send_world import errors, outbox_row, payload, seed_send, set_row
from threadline.adapters.imap import ImapMailbox
from threadline.adapters.smtp import SmtpSender
from threadline.rules.sequences.send_check import why_not_send
from threadline.sync.outbox.sends import SendExecutor, SendSummary
from threadline.sync.store.database import Store

pytestmark = pytest.mark.dovecot
USER, PASSWORD = "rep@smtp.example", "smtp-secret"


@dataclass
class FlakyDataHandler:
    """Answers each DATA with the next scripted behaviour ("ok", a reply line such as "451 ...", or "drop":
    the connection dies before the server took the mail), then "ok" once the script is used up."""

    script: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            behaviour = self.script.pop(0) if self.script else "ok"
            if behaviour == "ok":
                self.received.append(bytes(envelope.content))
        if behaviour == "drop":
            server.transport.close()
        return "250 Message accepted for delivery" if behaviour in ("ok", "drop") else behaviour

    def message_ids(self) -> list[str]:
        with self.lock:
            return [email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] for raw in self.received]


@dataclass
class FlakySmtp:
    port: int
    ca_file: Path
    handler: FlakyDataHandler


@pytest.fixture(scope="module")
def flaky_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlakySmtp]:
    handler = FlakyDataHandler()
    controller, tls = starttls_controller(handler, tmp_path_factory.mktemp("flaky-smtp-tls"))
    controller.start()
    yield FlakySmtp(controller.port, tls.ca_cert, handler)
    controller.stop()


@pytest.fixture
def smtp(flaky_smtp: FlakySmtp) -> Iterator[FlakyDataHandler]:
    flaky_smtp.handler.script.clear()
    flaky_smtp.handler.received.clear()
    yield flaky_smtp.handler


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = Store(sqlite_url)
    yield opened
    opened.dispose()


def executor(store: Store, mailbox: ImapMailbox, server: FlakySmtp) -> SendExecutor:
    sender = SmtpSender("127.0.0.1", server.port, "starttls", username=USER, password=PASSWORD,
                        ssl_context=ssl.create_default_context(cafile=str(server.ca_file)),
                        sent_folder_lookup=mailbox.find_in_sent, append_to_sent=mailbox.append_sent, timeout=5)
    return SendExecutor(store, {mailbox.address: sender}, None, send_check=why_not_send,
                        mailbox_owners={mailbox.address: "owner-1"})


def run_until_settled(store: Store, mailbox: ImapMailbox, server: FlakySmtp, keys: list[str]) -> list[SendSummary]:
    """Send passes until every row is done, making each retry due at once (as time passing would)."""
    summaries = []
    for _ in range(4):
        summaries.append(executor(store, mailbox, server).run())
        open_rows = [k for k in keys if outbox_row(store, k).status != "done"]
        if not open_rows:
            return summaries
        for key in open_rows:
            set_row(store, key, next_attempt_at=datetime.now(UTC))
    raise AssertionError(f"rows still open after 4 passes: {open_rows}")


@pytest.mark.parametrize("answer", ["451 4.3.0 Temporary local problem, try again",
                                    "421 4.3.2 Service shutting down, closing channel"])
def test_a_temporary_refusal_of_data_is_sent_again_and_arrives_once(
        store, mailbox, smtp, flaky_smtp, answer: str) -> None:  # type: ignore[no-untyped-def]
    """A 4xx answer to DATA means the server did not take the mail (RFC 5321 4.2.5): sending it again is safe."""
    seeded = seed_send(store, mailbox.address)
    smtp.script.append(answer)
    first, *rest = run_until_settled(store, mailbox, flaky_smtp, [seeded.key])

    assert (first.sent, first.retried) == (0, 1) and answer[:3] in first.errors[0]
    assert sum(s.sent for s in rest) == 1 and sum(s.unconfirmed for s in rest) == 0
    assert smtp.message_ids() == [seeded.email.message_id]                    # exactly one copy ever
    assert payload(store, seeded.key)["sent"]["confirmed"] is True
    assert errors(store, "send_unconfirmed") == []


def test_a_sequence_pass_through_refusals_and_a_drop_sends_each_step_at_most_once(
        store, mailbox, smtp, flaky_smtp) -> None:  # type: ignore[no-untyped-def]
    """Three steps in one pass: the first is refused with 451, the second goes through, the third's connection
    dies mid-DATA (the server kept nothing, but the client cannot know). Then the passes settle."""
    steps = [seed_send(store, mailbox.address, contact_id=f"c-{n}", to=f"buyer{n}@customer.example")
             for n in range(3)]
    smtp.script.extend(["451 4.7.1 Greylisted, try again later", "ok", "drop"])
    summaries = run_until_settled(store, mailbox, flaky_smtp, [s.key for s in steps])

    refused, went_through, dropped = steps
    assert sorted(smtp.message_ids()) == sorted([refused.email.message_id, went_through.email.message_id])
    assert sum(s.sent for s in summaries) == 2
    assert sum(s.unconfirmed for s in summaries) == 1
    assert payload(store, dropped.key)["sent"]["confirmed"] is False            # recorded, never resent
    [warning] = errors(store, "send_unconfirmed")
    assert dropped.email.message_id in warning and "outcome is unknown" in warning
