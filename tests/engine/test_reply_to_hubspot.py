"""End to end, in process: replies in a real IMAP mailbox land on HubSpot contacts in the sandbox, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.world import REP_DOMAIN, email, imap_mailbox_config, reply, seed_contacts, write_config
from threadline.config.loading import load_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import MessageRow, OutboxRow

pytestmark = pytest.mark.dovecot
ENV = {"HUBSPOT_TOKEN": "pat-sandbox-0000"}


@pytest.fixture
def engine_for(tmp_path: Path, sandbox: SandboxServer, imap_account, store_url: str):  # type: ignore[no-untyped-def]
    def make(**sync: object):  # type: ignore[no-untyped-def]
        path = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox,
                            mailboxes=[imap_mailbox_config(imap_account)], **sync)
        return build_engine(load_settings(path, env=ENV))
    return make


def test_reply_lands_on_the_contact_with_only_the_new_text_and_reply_properties(
        sandbox: SandboxServer, imap_account, engine_for) -> None:  # type: ignore[no-untyped-def]
    [contact], [address] = seed_contacts(sandbox, 1)
    imap_account.deliver(reply(address, imap_account.username, 1))
    engine = engine_for()
    summary = engine.run_once()
    assert summary.errors == []
    [logged] = sandbox.hubspot.emails_for(contact)
    props = logged["properties"]
    assert props["hs_email_direction"] == "INCOMING_EMAIL"
    assert props["hs_email_subject"] == "Re: Proposal 1"
    assert props["hs_email_text"] == "Thanks, reply number 1 is the new text."
    assert props["hs_email_headers"]["from"]["email"] == address
    contact_props = sandbox.hubspot.object("contacts", contact).properties
    assert contact_props["threadline_reply_count"] == "1"
    assert contact_props["threadline_last_reply_snippet"] == "Thanks, reply number 1 is the new text."
    assert engine.run_once().outbox.performed == {}          # a second cycle changes nothing
    assert len(sandbox.hubspot.emails_for(contact)) == 1
    engine.close()


def test_noise_is_recorded_with_reasons_and_never_logged(
        sandbox: SandboxServer, imap_account, engine_for, store_url: str) -> None:  # type: ignore[no-untyped-def]
    [contact], [address] = seed_contacts(sandbox, 1)
    rep = imap_account.username
    imap_account.deliver(email(address, rep, "Automatic reply: Proposal", "I am out of office until Monday.",
                               msg_id="<ooo@customer.example>", headers={"Auto-Submitted": "auto-replied"}))
    imap_account.deliver(email(f"colleague@{REP_DOMAIN}", rep, "Lunch?", "Pizza at noon?", msg_id="<int@x>"))
    imap_account.deliver(email("stranger@elsewhere.example", rep, "Hello", "Are you hiring?", msg_id="<s@x>"))
    imap_account.deliver(email("news@list.example", rep, "Weekly", "Tips", msg_id="<n@x>",
                               headers={"Precedence": "bulk", "List-Id": "<weekly.list.example>"}))
    imap_account.deliver(b"this is not an email at all\r\n\r\n")
    engine = engine_for()
    summary = engine.run_once()
    assert sandbox.hubspot.emails_for(contact) == []
    with Store(store_url).session() as session:
        decisions = {(m.decision, m.classification) for m in session.exec(select(MessageRow)).all()}
    assert decisions == {("skipped", "auto_reply"), ("skipped", "message"), ("skipped", "bulk"),
                         ("quarantined", "malformed")}
    assert summary.skipped["internal-only thread"] == 1
    assert summary.skipped["no known contact among the outside parties"] == 1
    engine.close()


def test_a_429_storm_on_create_is_ridden_out_without_duplicates(
        sandbox: SandboxServer, imap_account, engine_for) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, 3)
    for n, address in enumerate(addresses):
        imap_account.deliver(reply(address, imap_account.username, n))
    sandbox.faults.add(Fault("hubspot", "throttle", count=4, path_prefix="/crm/v3/objects/emails/batch/create",
                             delay=0.2))
    engine = engine_for()
    summary = engine.run_once()
    assert summary.errors == []
    assert [len(sandbox.hubspot.emails_for(cid)) for cid in ids] == [1, 1, 1]
    engine.close()


def test_a_create_whose_response_is_lost_is_found_again_not_repeated(
        sandbox: SandboxServer, imap_account, engine_for, store_url: str) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, 2)
    for n, address in enumerate(addresses):
        imap_account.deliver(reply(address, imap_account.username, n))
    # HubSpot creates the engagements, then the connection dies before the answer arrives.
    sandbox.faults.add(Fault("hubspot", "drop_after", count=1, path_prefix="/crm/v3/objects/emails/batch/create"))
    engine = engine_for()
    summary = engine.run_once()
    assert [len(sandbox.hubspot.emails_for(cid)) for cid in ids] == [1, 1]
    assert summary.outbox.reconciled == 2
    with Store(store_url).session() as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email")).all()
        assert {r.status for r in rows} == {"done"} and all(r.remote_id for r in rows)
    engine.close()


def test_the_same_reply_seen_in_two_mailboxes_is_logged_once(
        tmp_path: Path, sandbox: SandboxServer, dovecot_server, store_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.dovecot import DovecotAccount
    first, second = (DovecotAccount(dovecot_server, dovecot_server.add_user()) for _ in range(2))
    [contact], [address] = seed_contacts(sandbox, 1)
    raw = email(address, f"{first.username}, {second.username}", "Re: Both of you", "Answering you both.",
                msg_id="<both@customer.example>")
    first.deliver(raw)
    second.deliver(raw)
    path = write_config(tmp_path / "t.yaml", store_url=store_url, sandbox=sandbox,
                        mailboxes=[imap_mailbox_config(first), imap_mailbox_config(second)])
    engine = build_engine(load_settings(path, env=ENV))
    engine.run_once()
    [logged] = sandbox.hubspot.emails_for(contact)
    assert logged["properties"]["hs_email_text"] == "Answering you both."
    engine.close()


def test_a_reply_from_a_new_address_in_a_logged_thread_is_matched_by_thread(
        sandbox: SandboxServer, imap_account, engine_for, store_url: str) -> None:  # type: ignore[no-untyped-def]
    [contact], [address] = seed_contacts(sandbox, 1)
    rep = imap_account.username
    imap_account.deliver(email(address, rep, "Re: Pilot", "Looping in my colleague.", msg_id="<t1@customer.example>"))
    engine = engine_for()
    engine.run_once()
    imap_account.deliver(email("colleague@customer0.example", rep, "Re: Pilot", "I am the colleague; count me in.",
                               msg_id="<t2@customer.example>", in_reply_to="<t1@customer.example>"))
    engine.run_once()
    texts = sorted(e["properties"]["hs_email_text"] for e in sandbox.hubspot.emails_for(contact))
    assert texts == ["I am the colleague; count me in.", "Looping in my colleague."]
    with Store(store_url).session() as session:
        row = session.exec(select(MessageRow).where(MessageRow.message_id == "<t2@customer.example>")).one()
        assert row.reason == "matched by thread" and json.loads(row.contact_ids) == [contact]
    engine.close()
