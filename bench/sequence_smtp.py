"""Sends/s over SMTP: the SendExecutor submitting to a real SMTP server and filing Sent copies on a real Dovecot.

The SMTP server (aiosmtpd, STARTTLS and AUTH required, the tests' handler) runs in a child process, so the
CPU figure is this process's alone; Dovecot runs as its own processes. Rows are intended as in
bench/sequence_sends.py. Each send opens one SMTP connection (STARTTLS, AUTH, MAIL/RCPT/DATA), then
APPENDs the copy to the mailbox's IMAP Sent folder; `find_sent` is an IMAP SEARCH in Sent. Neither server
imposes a rate limit, so the figure is our own rate plus the servers'. Skipped when Dovecot is not installed.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

from bench.sequence_sends import ROOT, SendsConfig, drain, intend_sends, send_spans
from tests.servers.dovecot import DovecotServer, MailUser, dovecot_binary
from threadline.adapters.imap.mailbox import ImapMailbox
from threadline.adapters.smtp.sender import SmtpSender
from threadline.rules.sequences.send_check import why_not_send
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.ingest import MailboxSync
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store


def serve_smtp() -> None:
    """Child process: reads {username: password} from stdin's first line, starts aiosmtpd, prints
    {port, ca_file}; when stdin closes, prints how many messages it accepted and how many distinct ids."""
    import logging

    from aiosmtpd.controller import Controller

    from tests.fixtures.smtp import SmtpHandler, _free_port
    from threadline.sandbox.tls import make_test_ca

    logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd logs a deprecation notice per login
    logins = json.loads(sys.stdin.readline())
    tls = make_test_ca(Path(tempfile.mkdtemp(prefix="threadline-bench-smtp-")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    handler = SmtpHandler(logins=dict(logins))
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                            require_starttls=True, authenticator=handler.authenticate, auth_required=True)
    controller.start()
    print(json.dumps({"port": controller.port, "ca_file": str(tls.ca_cert)}), flush=True)
    sys.stdin.read()
    ids = [message_from_bytes(mail.raw)["Message-ID"] for mail in handler.messages]
    print(json.dumps({"accepted": len(ids), "distinct_message_ids": len(set(ids))}), flush=True)
    controller.stop()


def start_smtp(users: list[MailUser]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    child = subprocess.Popen([sys.executable, "-c", "from bench.sequence_smtp import serve_smtp; serve_smtp()"],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps({user.username: user.password for user in users}) + "\n")
    child.stdin.flush()
    return child, json.loads(child.stdout.readline())


def stop_smtp(child: subprocess.Popen[str]) -> dict[str, Any]:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    arrived = json.loads(child.stdout.readline() or "{}")
    child.wait(timeout=60)
    return dict(arrived)


def run_smtp(config: SendsConfig) -> dict[str, Any]:
    if dovecot_binary() is None:
        return {"skipped": "the dovecot binary is not installed"}
    directory = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
    dovecot = DovecotServer(directory).start()
    try:
        users = [dovecot.add_user() for _ in range(config.mailboxes)]
        child, smtp = start_smtp(users)
        try:
            measured = _drain_over_smtp(config, dovecot, users, smtp)
        finally:
            arrived = stop_smtp(child)
    finally:
        dovecot.stop()
        shutil.rmtree(directory, ignore_errors=True)
    sent = measured["executor"]["sent"] + measured["executor"]["confirmed_from_sent"]
    cpu = measured.pop("cpu_seconds")
    return {"mailboxes": config.mailboxes, "sends_per_mailbox": config.per_mailbox, **measured,
            "sends_per_second": round(sent / measured["wall_seconds"], 2),
            "cpu_ms_per_send": round(cpu * 1000 / max(1, sent), 2), "arrived": arrived}


def _drain_over_smtp(config: SendsConfig, dovecot: DovecotServer, users: list[MailUser],
                     smtp: dict[str, Any]) -> dict[str, Any]:
    assert dovecot.tls is not None
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/smtp.db")
        addresses = [user.username for user in users]
        intended = intend_sends(store, config, datetime.now(UTC), addresses)
        imap = {u.username: ImapMailbox(address=u.username, host=dovecot.host, port=dovecot.imap_port,
                                        security="starttls", username=u.username, password=u.password,
                                        ca_file=str(dovecot.tls.ca_cert)) for u in users}
        senders = {u.username: SmtpSender("127.0.0.1", smtp["port"], "starttls", username=u.username,
                                          password=u.password, ca_file=smtp["ca_file"],
                                          sent_folder_lookup=imap[u.username].find_in_sent,
                                          append_to_sent=imap[u.username].append_sent) for u in users}
        owners = {address: f"owner-{i:02d}" for i, address in enumerate(addresses)}
        ingest = MailboxSync(store, AddressPolicy())

        def refresh(address: str) -> None:
            ingest.run(imap[address], owners[address])

        for address in addresses:             # the engine's pull step has run before any send
            refresh(address)
        executor = SendExecutor(store, senders, refresh, send_check=why_not_send, mailbox_owners=owners)
        started = datetime.now(UTC)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        outcome = drain(executor, store)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        outcome["send_span_seconds_by_mailbox"] = send_spans(store, started)
        for mailbox in imap.values():
            mailbox.close()
    return {"rows_intended": intended, "executor": outcome, "wall_seconds": round(wall, 2), "cpu_seconds": cpu}
