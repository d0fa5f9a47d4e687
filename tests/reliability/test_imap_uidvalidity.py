"""IMAP UIDVALIDITY changes on a real Dovecot mailbox, end to end: the folder resyncs, and the CRM holds each
reply exactly once (nothing logged twice under the new UIDs, nothing that arrived with the change missed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.world import (
    SANDBOX_HUBSPOT_TOKEN,
    email,
    imap_mailbox_config,
    reply,
    seed_contacts,
    write_config,
)
from threadline.config.loading import load_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

pytestmark = pytest.mark.dovecot
CONTACTS = 3


def engine_for(tmp_path: Path, sandbox: SandboxServer, imap_account) -> SyncEngine:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{tmp_path / 'store.db'}",
                          sandbox=sandbox, mailboxes=[imap_mailbox_config(imap_account)])
    return build_engine(load_settings(config, env={"HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN}))


def subjects_on_crm(sandbox: SandboxServer, contact_ids: list[str]) -> list[str]:
    return sorted(e["properties"]["hs_email_subject"] for cid in contact_ids for e in sandbox.hubspot.emails_for(cid))


def reply_counts(sandbox: SandboxServer, contact_ids: list[str]) -> list[str]:
    """The contacts' reply-count property, which the engine computes from what it logged."""
    return [sandbox.hubspot.object("contacts", cid).properties["threadline_reply_count"] for cid in contact_ids]


def without_message_id(raw: bytes) -> bytes:
    """The same mail as some old clients and scripts send it: no Message-ID header at all."""
    return b"\r\n".join(line for line in raw.split(b"\n") if not line.lower().startswith(b"message-id:")) \
        .replace(b"\r\r", b"\r")


def test_uidvalidity_change_resyncs_and_logs_each_reply_once(
        tmp_path: Path, sandbox: SandboxServer, imap_account) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    for n in range(3):
        imap_account.deliver(reply(addresses[n], imap_account.username, n))
    engine = engine_for(tmp_path, sandbox, imap_account)
    assert engine.run_once().outbox.performed["log_email"] == 3

    imap_account.change_uidvalidity("INBOX")
    imap_account.deliver(reply(addresses[0], imap_account.username, 3))   # arrives with the renumbering
    second = engine.run_once()

    [mailbox] = second.mailboxes
    assert mailbox.resync_reason and "uidvalidity changed" in mailbox.resync_reason
    assert second.outbox.performed["log_email"] == 1
    assert subjects_on_crm(sandbox, ids) == [f"Re: Proposal {n}" for n in range(4)]
    assert reply_counts(sandbox, ids) == ["2", "1", "1"]
    assert engine.run_once().outbox.performed.get("log_email", 0) == 0
    engine.close()


def test_a_rebuilt_inbox_with_mail_lacking_message_ids_logs_nothing_twice(
        tmp_path: Path, sandbox: SandboxServer, imap_account) -> None:  # type: ignore[no-untyped-def]
    """An INBOX restored from a backup: emptied, renumbered (a new UIDVALIDITY) and the same mail appended again,
    two of them without a Message-ID (old clients and scripts send such mail); plus one new reply."""
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    user = imap_account.username
    mails = [without_message_id(reply(addresses[n], user, n)) for n in range(2)]
    mails.append(reply(addresses[2], user, 2))
    for raw in mails:
        imap_account.deliver(raw)
    engine = engine_for(tmp_path, sandbox, imap_account)
    assert engine.run_once().outbox.performed["log_email"] == 3

    imap_account.server.doveadm("expunge", "-u", user, "mailbox", "INBOX", "all")
    imap_account.change_uidvalidity("INBOX")
    for raw in [*mails, email(addresses[1], user, "Re: Proposal 3", "A new question.\n", msg_id="<new-3@x.example>")]:
        imap_account.deliver(raw)
    second = engine.run_once()

    assert second.mailboxes[0].resync_reason
    assert second.outbox.performed.get("log_email", 0) == 1
    assert subjects_on_crm(sandbox, ids) == [f"Re: Proposal {n}" for n in range(4)]
    assert reply_counts(sandbox, ids) == ["1", "2", "1"]
    engine.close()
