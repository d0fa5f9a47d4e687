"""One contract, every adapter: what the engine relies on, checked through real HTTP/IMAP for each provider.

CRM adapters: HubSpot, Salesforce. Mailbox adapters: Gmail, Outlook (Graph), IMAP (Dovecot).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.contract.worlds import REP, CrmWorld, MailboxWorld, crm_world, mail, mailbox_world
from threadline.adapters.records import ContactUpdate, EmailActivity, MailPage
from threadline.sandbox.server import SandboxServer
from threadline.sync.message import parse_message


@pytest.fixture
def server(tls_sandbox: SandboxServer) -> SandboxServer:
    return tls_sandbox


@pytest.fixture(params=["hubspot", "salesforce"])
def crm(request: pytest.FixtureRequest, server: SandboxServer, tmp_path: Path) -> CrmWorld:
    return crm_world(request.param, server, tmp_path)


@pytest.fixture(params=["gmail", "outlook", "imap"])
def mailbox(request: pytest.FixtureRequest, server: SandboxServer, tmp_path: Path) -> Iterator[MailboxWorld]:
    account = request.getfixturevalue("imap_account") if request.param == "imap" else None
    world = mailbox_world(request.param, server, tmp_path, account)
    yield world
    world.adapter.close()


def _activity(key: str, contact_id: str, text: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=contact_id, direction="incoming", occurred_at=datetime.now(UTC),
                         subject="Re: Pilot", text=text, from_address="buyer@customer.example",
                         to_addresses=(REP,), message_id=f"<{key}@customer.example>")


# -- CRM adapters --------------------------------------------------------------------------------

def test_crm_backfill_returns_every_contact_with_its_address_and_changes_come_again(crm: CrmWorld) -> None:
    ids = [crm.add_contact(f"buyer{i}@customer.example") for i in range(3)]
    pages = list(crm.adapter.pull_contacts(None))
    seen = {c.id: c for page in pages for c in page.contacts}
    assert set(ids) <= set(seen)
    assert seen[ids[0]].emails[0].lower() == "buyer0@customer.example"
    cursor = pages[-1].cursor
    crm.touch(ids[1])
    again = {c.id for page in crm.adapter.pull_contacts(cursor) for c in page.contacts}
    assert ids[1] in again                     # the changed contact comes again...
    assert again <= set(ids)                   # ...and nothing unknown (re-reading the boundary one is allowed)


def test_crm_logged_activities_are_found_again_by_their_keys(crm: CrmWorld) -> None:
    contact = crm.add_contact("jane@customer.example")
    assert all(r.ok for r in crm.adapter.ensure_schema())
    logged = crm.adapter.log_emails([_activity("k-1", contact, "Yes, let's do it."),
                                     _activity("k-2", contact, "And one more thing.")])
    assert {a.key for a in logged} == {"k-1", "k-2"}
    assert crm.adapter.find_logged(["k-1", "k-2", "k-unknown"]) == {a.key: a.remote_id for a in logged}


def test_crm_contact_updates_write_absolute_values(crm: CrmWorld) -> None:
    contact = crm.add_contact("sam@customer.example")
    crm.adapter.ensure_schema()
    update = ContactUpdate(contact_id=contact, properties={crm.property_names["count"]: "2",
                                                           crm.property_names["snippet"]: "Latest words"})
    crm.adapter.update_contacts([update])
    crm.adapter.update_contacts([update])            # the same write again changes nothing
    assert float(crm.property_of(contact, crm.property_names["count"])) == 2
    assert crm.property_of(contact, crm.property_names["snippet"]) == "Latest words"


def test_crm_check_reports_reach_and_never_raises(crm: CrmWorld) -> None:
    results = crm.adapter.check()
    assert results and any(r.ok for r in results)


# -- mailbox adapters ----------------------------------------------------------------------------

def _messages(pages: list[MailPage]) -> list[tuple[str, str]]:
    return [(m.folder, parse_message(m.raw).subject) for page in pages for m in page.messages]


def test_mailbox_backfill_reads_inbox_and_sent_as_rfc822(mailbox: MailboxWorld) -> None:
    mailbox.deliver(mail(1), "inbox")
    mailbox.deliver(mail(2, sender=REP, to="buyer@customer.example", subject="Outreach"), "sent")
    pages = list(mailbox.adapter.pull(None))
    assert sorted(_messages(pages)) == [("inbox", "Question 1"), ("sent", "Outreach 2")]
    assert all(m.provider_id for page in pages for m in page.messages)


def test_mailbox_incremental_pull_returns_only_new_mail_and_an_idle_pull_nothing(mailbox: MailboxWorld) -> None:
    mailbox.deliver(mail(1), "inbox")
    cursor = list(mailbox.adapter.pull(None))[-1].cursor
    mailbox.deliver(mail(2), "inbox")
    pages = list(mailbox.adapter.pull(cursor))
    assert _messages(pages) == [("inbox", "Question 2")]
    cursor = pages[-1].cursor
    assert _messages(list(mailbox.adapter.pull(cursor))) == []


def test_mailbox_check_passes_and_bad_credentials_are_reported_not_raised(mailbox: MailboxWorld) -> None:
    assert all(r.ok for r in mailbox.adapter.check() if r.item in ("reach", "login", "token", "mailbox"))
    broken = mailbox.broken()
    try:
        results = broken.check()
    finally:
        broken.close()
    assert results and not all(r.ok for r in results)
