"""Logs as an operator reads them: one JSON object per line in a container, readable lines on a terminal,
with mailbox and contact ids, and never a token or a message body."""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from tests.engine.world import SANDBOX_HUBSPOT_TOKEN, imap_mailbox_config, reply, seed_contacts, write_config
from threadline.connector.monitoring.logs import configure_logging
from threadline.sandbox.server import SandboxServer

pytestmark = pytest.mark.dovecot


def _threadline(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN, **(env or {})}
    full.pop("THREADLINE_LOG_FORMAT", None)
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, env=full, timeout=120)


def test_a_sync_logs_json_lines_with_ids_and_no_secret_or_body(tmp_path: Path, sandbox: SandboxServer,
                                                                imap_account) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{tmp_path / 's.db'}", sandbox=sandbox,
                          mailboxes=[imap_mailbox_config(imap_account)])
    [contact], [address] = seed_contacts(sandbox, 1)
    imap_account.deliver(reply(address, imap_account.username, 7))
    synced = _threadline(config, "sync", "--once", env={"THREADLINE_LOG_LEVEL": "debug"})
    assert synced.returncode == 0, synced.stdout + synced.stderr

    lines = [line for line in synced.stderr.splitlines() if line.strip()]
    assert lines, "a sync logs what it did"
    events = [json.loads(line) for line in lines]          # every line is one JSON object
    assert all({"event", "level", "timestamp"} <= set(e) for e in events)
    assert any(e.get("mailbox") == imap_account.username for e in events)
    assert any(e.get("contact_id") == contact for e in events)
    everything = synced.stderr + synced.stdout
    assert SANDBOX_HUBSPOT_TOKEN not in everything
    assert imap_account.password not in synced.stderr
    assert "reply number 7 is the new text" not in synced.stderr     # bodies stay out of logs


def test_on_a_terminal_logs_are_readable_lines_not_json(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{tmp_path / 's.db'}", sandbox=sandbox,
                          mailboxes=[])
    sandbox.faults.clear()
    primary, secondary = pty.openpty()
    env = {**os.environ, "HUBSPOT_TOKEN": "pat-not-the-right-one", "COLUMNS": "200"}
    env.pop("THREADLINE_LOG_FORMAT", None)
    process = subprocess.Popen([sys.executable, "-m", "threadline", "sync", "--once", "--config", str(config)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:            # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(primary)
    text = b"".join(chunks).decode(errors="replace")
    logged = [line for line in text.splitlines() if line.strip()]
    assert logged, "the refused token is logged"
    assert not any(line.lstrip().startswith("{") for line in logged)
    assert "pat-not-the-right-one" not in text


def test_library_logs_go_through_the_same_json_and_redaction(capfd: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging(["s3cr3t-token-value"], json=True)
        logging.getLogger("msal.application").warning("token refresh failed for s3cr3t-token-value")
        structlog.get_logger("threadline.test").info("own.event", mailbox="rep@example.com")
        err = capfd.readouterr().err
    finally:
        # configure_logging bound structlog to this test's captured stderr: later tests must not write to it
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
        structlog.reset_defaults()
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert [r["event"] for r in records] == ["token refresh failed for [redacted]", "own.event"]
    assert records[0]["logger"] == "msal.application" and records[0]["level"] == "warning"
    assert "s3cr3t-token-value" not in err
