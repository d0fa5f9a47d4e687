"""SIGKILL at every step of the sync path, then restart: each reply is on the CRM exactly once.

`threadline sync --once` runs as a real subprocess against the sandbox and a real
Dovecot; THREADLINE_CRASH_AT makes it kill itself (SIGKILL, no cleanup) at a
named point; the next run must finish the work without duplicating anything.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.engine.world import imap_mailbox_config, reply, seed_contacts, sync_once, write_config
from threadline.sandbox.server import SandboxServer

pytestmark = pytest.mark.dovecot
REPLIES = 130          # two outbox batches of up to 100
CONTACTS = 13


@pytest.fixture
def world(tmp_path: Path, sandbox: SandboxServer, imap_account):  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    for n in range(REPLIES):
        imap_account.deliver(reply(addresses[n % CONTACTS], imap_account.username, n))
    config = write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{tmp_path / 'store.db'}",
                          sandbox=sandbox, mailboxes=[imap_mailbox_config(imap_account)])
    return config, ids


def assert_each_reply_logged_once(sandbox: SandboxServer, contact_ids: list[str]) -> None:
    subjects = [e["properties"]["hs_email_subject"] for cid in contact_ids for e in sandbox.hubspot.emails_for(cid)]
    assert len(subjects) == REPLIES, f"{len(subjects)} activities for {REPLIES} replies"
    assert sorted(subjects) == sorted(f"Re: Proposal {n}" for n in range(REPLIES))
    for n, cid in enumerate(contact_ids):
        expected = str(len(range(n, REPLIES, CONTACTS)))
        assert sandbox.hubspot.object("contacts", cid).properties["threadline_reply_count"] == expected


CRASH_POINTS = [
    "mailbox.after_message:57",          # mid-page: nothing of the page committed yet
    "mailbox.after_page_commit:1",       # page and intents committed, nothing sent
    "outbox.after_claim:1",              # first batch marked in flight, CRM not called
    "outbox.after_remote_create:1",      # CRM created the first batch, ids not recorded
    "outbox.after_remote_create:2",      # the second batch likewise, the first one recorded
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_sigkill_then_restart_logs_every_reply_exactly_once(world, sandbox: SandboxServer, crash_at: str) -> None:  # type: ignore[no-untyped-def]
    config, contact_ids = world
    crashed = sync_once(config, crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    finished = sync_once(config)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert_each_reply_logged_once(sandbox, contact_ids)
    again = sync_once(config)   # and nothing more happens on a later cycle
    assert again.returncode == 0 and "0 email activities logged" in again.stdout
    assert_each_reply_logged_once(sandbox, contact_ids)


def test_killed_at_several_points_in_a_row_still_logs_each_reply_once(world, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    config, contact_ids = world
    for crash_at in ("mailbox.after_message:20", "outbox.after_remote_create:1", "outbox.after_claim:1",
                     "outbox.after_remote_create:1"):
        assert sync_once(config, crash_at).returncode == -signal.SIGKILL, crash_at
    assert sync_once(config).returncode == 0
    assert_each_reply_logged_once(sandbox, contact_ids)
