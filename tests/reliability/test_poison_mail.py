"""Poison mail end to end: generated broken messages between good replies, through `threadline sync --once`.

Each poison message ends with a recorded decision and reason (quarantined when it cannot be attributed
to a sender, else logged or skipped like any other mail, with its damage repaired); every good reply is
logged exactly once; the cursor moves past all of them, so the next sync re-reads nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.world import reply, run_threadline, seed_contacts, sync_once, write_config
from tests.reliability import strategies as poison
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import MessageRow

REP = DEFAULT_USER                 # whose mailbox the sandbox's refresh token opens


def poison_batch(contact: str, rep: str) -> list[tuple[str, bytes]]:
    """(name, raw) of every poison message; all but "broken" and "long sender" come from a known contact."""
    sender = f"Pat Buyer <{contact}>"
    return [("broken", poison.broken_mime(rep)),
            ("huge", poison.huge_attachment(sender, rep, "<huge@customer.example>")),
            ("nested", poison.deep_nesting(sender, rep, "<nested@customer.example>")),
            ("charset", poison.invalid_charset(sender, rep, "<charset@customer.example>")),
            ("nul", poison.nul_bytes(sender, rep, "<nul@customer.example>")),
            ("long ids", poison.oversized_ids(sender, rep)),
            ("long sender", poison.oversized_sender(rep))]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`threadline status` is a rich table: wide enough that a reason is not wrapped mid-phrase."""
    monkeypatch.setenv("COLUMNS", "250")


def rows(store_url: str) -> list[MessageRow]:
    with Store(store_url, migrate=False).session() as session:
        return list(session.exec(select(MessageRow)).all())


def pulled(summary: str, mailbox: str) -> str:
    """The 'pulled' cell of `mailbox`'s row in the sync summary table."""
    row = next(line for line in summary.splitlines() if mailbox in line)
    return [cell.strip() for cell in row.split("│") if cell.strip()][1]


def assert_outcome(sandbox: SandboxServer, config: Path, store_url: str, contacts: list[str],
                   poison_count: int, mailbox: str) -> None:
    """Good replies once each, every message decided with a reason, quarantine visible in status, no re-read."""
    first = sync_once(config)
    assert first.returncode == 0, first.stdout + first.stderr
    decided = rows(store_url)
    assert len(decided) == 3 + poison_count
    assert all(row.reason for row in decided), [(row.provider_id, row.decision) for row in decided]
    quarantined = [row for row in decided if row.decision == "quarantined"]
    assert sorted(row.reason for row in quarantined) == ["From address longer than 320 characters",
                                                         "From header has no address"]
    # the others come from a known contact: repaired (charset, NUL, depth cap) and logged like any reply
    by_id = {row.message_id: row for row in decided if row.message_id}
    for name in ("huge", "nested", "charset", "nul"):
        assert by_id[f"<{name}@customer.example>"].decision == "logged", name
    assert by_id["<huge@customer.example>"].reply_text == "Attached is the file you asked for."
    nul_reply = by_id["<nul@customer.example>"].reply_text or ""     # Dovecot itself turns NUL into U+FFFD
    assert nul_reply.startswith("Reply with a") and nul_reply.endswith("NUL byte in it.") and "\x00" not in nul_reply
    # the good replies (numbered 1..3 on contacts 0..2) each landed once; the poison from contact 0 is extra
    subjects = {cid: sorted(e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(cid))
                for cid in contacts}
    assert subjects[contacts[1]] == ["Re: Proposal 2"] and subjects[contacts[2]] == ["Re: Proposal 3"]
    # (Dovecot turns NUL into U+FFFD before we see it; through Gmail the NUL arrives and is removed by parsing)
    assert sorted(s.replace("\ufffd", "") for s in subjects[contacts[0]]) == sorted(["Re: Proposal 1", "Re: the big file", "Re: nested", "Re: nul inside",
                                            "=?x-no-such-charset?q?Re=3A_prix?=", "Re: long ids"])   # undecodable: kept as written
    status = run_threadline(config, "status")
    assert "malformed_message" in status.stdout and "From header has no address" in status.stdout
    again = sync_once(config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert pulled(first.stdout, mailbox) == str(3 + poison_count)
    assert pulled(again.stdout, mailbox) == "0"                     # the cursor is past every poison message
    assert len(rows(store_url)) == len(decided)
    assert {cid: sorted(e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(cid))
            for cid in contacts} == subjects


@pytest.mark.timeout(120)
def test_poison_in_an_imap_mailbox_is_quarantined_and_good_replies_are_logged_once(
        sandbox: SandboxServer, imap_account, sqlite_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # One store per mailbox kind keeps the time budget: SQLite here, PostgreSQL (where NUL bytes stuck the
    # cursor) in the Gmail test.
    store_url = sqlite_url
    ids, emails = seed_contacts(sandbox, 3)
    rep = imap_account.username
    batch = poison_batch(emails[0], rep)
    imap_account.deliver(reply(emails[0], rep, 1))
    for n, (_, raw) in enumerate(batch):
        imap_account.deliver(raw)
        if n == 2:
            imap_account.deliver(reply(emails[1], rep, 2))
    imap_account.deliver(reply(emails[2], rep, 3))
    box = {"kind": "imap", "address": rep, "host": "127.0.0.1", "port": imap_account.server.imap_port,
           "security": "none", "username": rep, "password": imap_account.password}
    config = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox, mailboxes=[box])
    assert_outcome(sandbox, config, store_url, ids, len(batch), rep)


@pytest.mark.timeout(120)
def test_poison_in_a_gmail_mailbox_is_quarantined_and_good_replies_are_logged_once(
        sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> None:
    store_url = postgres_url
    ids, emails = seed_contacts(sandbox, 3)
    batch = poison_batch(emails[0], REP)
    sandbox.gmail.deliver(REP, reply(emails[0], REP, 1))
    for n, (_, raw) in enumerate(batch):
        sandbox.gmail.deliver(REP, raw)
        if n == 2:
            sandbox.gmail.deliver(REP, reply(emails[1], REP, 2))
    sandbox.gmail.deliver(REP, reply(emails[2], REP, 3))
    s = sandbox.settings
    box = {"kind": "gmail", "address": REP, "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
           "client_id": s.google_client_id, "client_secret": s.google_client_secret,
           "refresh_token": s.google_refresh_token}
    config = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox, mailboxes=[box])
    assert_outcome(sandbox, config, store_url, ids, len(batch), REP)
