"""End to end over the Gmail API sandbox: the demo, and a history-id expiry that resyncs without duplicates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP, late_reply
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer


@pytest.mark.parametrize("options", [[], ["--crm", "salesforce"], ["--mailbox", "outlook"],
                                     ["--crm", "salesforce", "--mailbox", "outlook"]])
def test_demo_runs_the_whole_loop_on_embedded_defaults(tmp_path: Path, options: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "threadline", "demo", *options], capture_output=True, text=True,
                            timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every reply landed once" in result.stdout
    # The team part (#17): three reps found from the CRM's owners and one connected through a link.
    assert "every team reply landed once" in result.stdout
    assert result.stdout.count("crm_owners") == 3 and "connected" in result.stdout
    assert list(tmp_path.iterdir()) == []          # embedded defaults: nothing left in the working directory


def test_expired_history_id_resyncs_and_duplicates_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    settings = parse_settings(demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded), tmp_path / "demo.yaml", env={})
    engine = build_engine(settings)
    first = engine.run_once()
    assert first.outbox.performed["log_email"] == 3
    sandbox.gmail.deliver(REP, late_reply())
    sandbox.gmail.expire_history_before(REP, sandbox.gmail.history_id(REP) + 1)
    second = engine.run_once()
    [mailbox] = second.mailboxes
    assert mailbox.resync_reason and "history" in mailbox.resync_reason
    assert mailbox.duplicates >= 12               # the whole window was read again, and recognised
    assert second.outbox.performed["log_email"] == 1   # only the new reply
    total = sum(len(sandbox.hubspot.emails_for(c.id)) for c in sandbox.hubspot.contacts)
    assert total == 4
    engine.close()
