"""Poison mail end to end: generated broken messages between good replies, through `threadline sync --once`.

Each poison message ends with a recorded decision and reason (quarantined when it cannot be attributed
to a sender, else logged or skipped like any other mail, with its damage repaired); every good reply is
logged exactly once; the cursor moves past all of them, so the next sync re-reads nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.world import email, reply, run_threadline, seed_contacts, sync_once, write_config
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


MARKER = "X-Poison: trips-an-unknown-bug"


def gmail_config(sandbox: SandboxServer, store_url: str, tmp_path: Path) -> Path:
    s = sandbox.settings
    box = {"kind": "gmail", "address": REP, "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
           "client_id": s.google_client_id, "client_secret": s.google_client_secret,
           "refresh_token": s.google_refresh_token}
    return write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox, mailboxes=[box])


def subjects_by_contact(sandbox: SandboxServer, contacts: list[str]) -> dict[str, list[str]]:
    return {cid: sorted(e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(cid))
            for cid in contacts}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store", ["sqlite_url", "postgres_url"])
def test_a_message_that_trips_an_unexpected_error_is_quarantined_and_the_mailbox_moves_on(
        store: str, sandbox: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # THREADLINE_FAIL_AT stands in for a bug no known input triggers: an exception the ingest does not
    # expect, raised for one message. On PostgreSQL it also aborts the transaction, so the page must be
    # retaken message by message in savepoints; before, the page was retried every cycle and the cursor stuck.
    store_url = request.getfixturevalue(store)
    ids, emails = seed_contacts(sandbox, 3)
    poisoned = email(emails[1], REP, "Re: the odd one", "This one trips the bug.\n",
                     msg_id="<odd@customer.example>", headers={"X-Poison": "trips-an-unknown-bug"})
    for raw in (reply(emails[0], REP, 1), poisoned, reply(emails[1], REP, 2), reply(emails[2], REP, 3)):
        sandbox.gmail.deliver(REP, raw)
    config = gmail_config(sandbox, store_url, tmp_path)

    first = sync_once(config, fail_at=f"mailbox.message={MARKER}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert pulled(first.stdout, REP) == "4"
    decided = rows(store_url)
    assert sorted(row.decision for row in decided) == ["logged", "logged", "logged", "quarantined"]
    odd = next(row for row in decided if row.decision == "quarantined")
    assert odd.reason == "internal error: InjectedFault: injected fault at mailbox.message"
    assert subjects_by_contact(sandbox, ids) == {ids[0]: ["Re: Proposal 1"], ids[1]: ["Re: Proposal 2"],
                                                 ids[2]: ["Re: Proposal 3"]}
    status = run_threadline(config, "status")
    assert "unprocessable_message" in status.stdout and "InjectedFault" in status.stdout

    again = sync_once(config)                       # the fault is gone; the cursor is already past the message
    assert again.returncode == 0, again.stdout + again.stderr
    assert pulled(again.stdout, REP) == "0"
    assert len(rows(store_url)) == 4
    assert subjects_by_contact(sandbox, ids)[ids[1]] == ["Re: Proposal 2"]


@pytest.mark.timeout(120)
def test_a_fault_that_fails_most_of_a_page_quarantines_nothing_and_holds_the_cursor(
        sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> None:
    # When nearly every message fails the fault is ours, not the mail's (say, a bad upgrade): quarantining
    # would drop every reply, so the page is rolled back, the error named, and the next run takes it again.
    ids, emails = seed_contacts(sandbox, 3)
    for n in range(6):
        sandbox.gmail.deliver(REP, reply(emails[n % 3], REP, n + 1))
    config = gmail_config(sandbox, postgres_url, tmp_path)

    broken = sync_once(config, fail_at="mailbox.message=Subject: Re: Proposal")
    assert broken.returncode == 1, broken.stdout + broken.stderr     # the mailbox's error is the run's error
    assert rows(postgres_url) == []
    assert all(sandbox.hubspot.emails_for(cid) == [] for cid in ids)
    status = run_threadline(config, "status")
    assert "internal_error" in status.stdout and "not quarantining a whole page" in status.stdout

    fixed = sync_once(config)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert pulled(fixed.stdout, REP) == "6"
    assert [row.decision for row in rows(postgres_url)] == ["logged"] * 6
    assert sum(len(v) for v in subjects_by_contact(sandbox, ids).values()) == 6
