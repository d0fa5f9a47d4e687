"""The CLI as an admin uses it: check, sync --once, status — against the sandbox and a real Dovecot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.world import imap_mailbox_config, reply, seed_contacts, write_config
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

pytestmark = pytest.mark.dovecot


def cli(config: Path, *args: str, token: str = "pat-sandbox-0000") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBSPOT_TOKEN": token, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def config(tmp_path: Path, sandbox: SandboxServer, imap_account) -> Path:  # type: ignore[no-untyped-def]
    return write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{tmp_path / 's.db'}", sandbox=sandbox,
                        mailboxes=[imap_mailbox_config(imap_account)])


def test_check_reaches_every_provider_and_creates_missing_properties_on_sync(config: Path, sandbox: SandboxServer) -> None:
    result = cli(config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hubspot" in result.stdout and "imap" in result.stdout and "FAIL" not in result.stdout


def test_check_fails_clearly_with_a_wrong_token_and_never_prints_it(config: Path) -> None:
    result = cli(config, "check", token="pat-wrong-secret-value")
    assert result.returncode == 1
    assert "FAIL" in result.stdout
    assert "pat-wrong-secret-value" not in result.stdout + result.stderr


def test_sync_once_summarises_and_status_shows_cursors_outbox_and_errors(
        config: Path, sandbox: SandboxServer, imap_account) -> None:  # type: ignore[no-untyped-def]
    [contact], [address] = seed_contacts(sandbox, 1)
    imap_account.deliver(reply(address, imap_account.username, 7))
    synced = cli(config, "sync", "--once")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "1 email activities logged" in synced.stdout
    status = cli(config, "status")
    assert status.returncode == 0
    assert "crm:hubspot" in status.stdout and f"mailbox:{imap_account.username}" in status.stdout
    assert "done: 2" in status.stdout            # one activity + one contact update

    sandbox.faults.add(Fault("hubspot", "error", count=50, status=503, path_prefix="/crm/v3/objects/contacts/search"))
    broken = cli(config, "sync", "--once")
    assert broken.returncode == 1
    assert "TransientError" in broken.stdout
    status = cli(config, "status")
    assert "hubspot.TransientError" in status.stdout and "503" in status.stdout
    as_json = json.loads(cli(config, "status", "--json").stdout)
    assert {source["source"] for source in as_json["sources"]} >= {"crm:hubspot", f"mailbox:{imap_account.username}"}
    assert as_json["outbox"]["done"] == 2
    assert any(e["kind"] == "hubspot.TransientError" and "503" in e["message"] for e in as_json["recent_errors"])
