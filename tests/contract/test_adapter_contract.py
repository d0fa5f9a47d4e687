"""One contract, every adapter: what the engine relies on, checked through real HTTP/IMAP for each provider.

CRM adapters: HubSpot, Salesforce. Mailbox adapters: Gmail, Outlook (Graph), IMAP (Dovecot).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.contract.worlds import REP, CrmWorld, MailboxWorld, crm_world, mail, mailbox_world
from threadline.adapters.errors import TransientError
from threadline.adapters.records import ContactUpdate, EmailActivity, FieldWrite, MailPage, TaskRequest
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.mail.message import parse_message


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


# -- CRM adapters: the rule layer's operations ----------------------------------------------------

def _task(key: str, contact_id: str, owner_id: str | None) -> TaskRequest:
    return TaskRequest(key=key, contact_id=contact_id, owner_id=owner_id, subject="Follow up",
                       body="Reached MQL", due_at=datetime(2030, 5, 2, 9, 30, tzinfo=UTC), priority="HIGH")


def test_crm_tasks_are_found_by_key_open_and_then_completed(crm: CrmWorld) -> None:
    crm.adapter.ensure_schema()
    owner, contact = crm.add_owner("rep@northwind.example"), crm.add_contact("jane@customer.example")
    [created] = crm.adapter.create_tasks([_task("e-1", contact, owner)])
    state = crm.adapter.find_tasks(["e-1", "e-unknown"])
    assert list(state) == ["e-1"] and state["e-1"].remote_id == created.remote_id
    assert (state["e-1"].status, state["e-1"].owner_id) == ("open", owner)
    assert state["e-1"].due_at == datetime(2030, 5, 2, 9, 30, tzinfo=UTC)
    crm.complete_task(created.remote_id)
    assert crm.adapter.find_tasks(["e-1"])["e-1"].status == "completed"


def test_crm_task_create_whose_answer_was_lost_is_found_by_its_key(crm: CrmWorld, server: SandboxServer) -> None:
    crm.adapter.ensure_schema()
    contact = crm.add_contact("jane@customer.example")
    server.faults.add(Fault(provider=crm.adapter.name, kind="drop_after", path_prefix=crm.task_create_path))
    with pytest.raises(TransientError):
        crm.adapter.create_tasks([_task("e-lost", contact, None)])
    assert list(crm.adapter.find_tasks(["e-lost"])) == ["e-lost"]


def test_crm_write_fields_writes_score_and_owner_as_absolute_values(crm: CrmWorld) -> None:
    crm.create_rule_fields()
    assert all(r.ok for r in crm.adapter.rule_fields_schema([(crm.property_names["score"], "number")]))
    owner, contact = crm.add_owner("rep@northwind.example"), crm.add_contact("sam@customer.example")
    write = FieldWrite(contact_id=contact, fields={crm.property_names["score"]: "72", crm.property_names["owner"]: owner})
    crm.adapter.write_fields([write])
    crm.adapter.write_fields([write])
    assert float(crm.property_of(contact, crm.property_names["score"])) == 72
    assert crm.property_of(contact, crm.property_names["owner"]) == owner


def test_crm_list_owners_includes_every_rep(crm: CrmWorld) -> None:
    owner = crm.add_owner("rep@northwind.example")
    owners = {o.id: o for o in crm.adapter.list_owners()}
    assert owners[owner].email == "rep@northwind.example" and owners[owner].active


def test_crm_meetings_are_backfilled_then_only_new_ones_come(crm: CrmWorld) -> None:
    contact = crm.add_contact("jane@customer.example")
    starts = datetime(2030, 5, 3, 15, tzinfo=UTC)
    first = crm.add_meeting(contact, starts)
    pages = list(crm.adapter.pull_meetings(None))
    assert [(m.id, m.contact_ids, m.starts_at) for batch, _ in pages for m in batch] == [(first, (contact,), starts)]
    second = crm.add_meeting(contact, starts + timedelta(days=1))
    later = {m.id for batch, _ in crm.adapter.pull_meetings(pages[-1][1]) for m in batch}
    assert second in later and later <= {first, second}  # re-reading the boundary meeting is allowed
