"""build_engine wires a sender per mailbox and runs pulls -> rules -> sequences -> sends -> CRM in one cycle."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path
from typing import Any

from threadline.adapters.gmail import GmailAdapter
from threadline.adapters.smtp import SmtpSender
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer

REP = DEFAULT_USER
BUYER = "buyer@customer.example"
SERVER = {"public_url": "https://threadline.test", "unsubscribe_secret": "unsubscribe-secret-for-tests"}
SEQUENCE = {"name": "welcome", "enroll_on": "contact.created", "on_reply": "exit", "spacing_minutes": 0,
            "window": {"start": "00:00", "end": "23:59", "days": [0, 1, 2, 3, 4, 5, 6]},
            "steps": [{"kind": "email", "subject": "Hello {{ contact.firstname }}", "delay": {"hours": 0},
                       "body": "Hi {{ contact.firstname }}, {{ owner.name }} here.\n{{ unsubscribe_url }}\n"},
                      {"kind": "email", "subject": "Following up", "delay": {"days": 2},
                       "body": "Any thoughts?\n{{ unsubscribe_url }}\n"}]}


def gmail_box(sandbox: SandboxServer, **extra: Any) -> dict[str, Any]:
    s = sandbox.settings
    return {"kind": "gmail", "address": REP, "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
            "client_id": s.google_client_id, "client_secret": s.google_client_secret,
            "refresh_token": s.google_refresh_token, **extra}


def imap_box(address: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "imap", "address": address, "host": "127.0.0.1", "port": 1143, "security": "none",
            "username": address, "password": "secret", **extra}


def config(sandbox: SandboxServer, tmp_path: Path, mailboxes: list[dict[str, Any]], **sections: Any) -> Any:
    data = {"store": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
            "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                    "search_index_lag": "0s"},
            "mailboxes": mailboxes, "sync": {"backfill_days": 30, "log_outgoing": True}, **sections}
    return parse_settings(data, tmp_path / "threadline.yaml", env={})


def test_every_mailbox_that_can_send_gets_a_sender(sandbox: SandboxServer, tmp_path: Path) -> None:
    settings = config(sandbox, tmp_path, [
        gmail_box(sandbox, sent_copy_delay="30s"),
        imap_box("rep2@northwind.example", smtp_host="smtp.northwind.example", smtp_port=2525),
        imap_box("rep3@northwind.example")])
    engine = build_engine(settings)
    gmail, smtp, read_only = engine.mailboxes
    assert isinstance(gmail.sender, GmailAdapter) and gmail.sender is gmail.adapter
    assert gmail.sender.sent_visibility == timedelta(seconds=30)
    assert isinstance(smtp.sender, SmtpSender) and smtp.sender.sent_visibility is None
    assert (smtp.sender.endpoint.host, smtp.sender.endpoint.port) == ("smtp.northwind.example", 2525)
    assert read_only.sender is None
    assert engine.sender is not None and set(engine.sender.senders) == {REP, "rep2@northwind.example"}
    engine.close()


def test_one_cycle_enrols_sends_once_and_logs_the_outgoing_email(sandbox: SandboxServer, tmp_path: Path) -> None:
    owner = sandbox.hubspot.add_owner(REP, first_name="Rita", last_name="Rep")
    contact = sandbox.hubspot.add_contact(BUYER, owner_id=owner, firstname="Pat")
    settings = config(sandbox, tmp_path, [gmail_box(sandbox, owner_id=owner)],
                      rules={"sequences": [SEQUENCE]}, server=SERVER)
    engine = build_engine(settings)
    first = engine.run_once()
    assert (first.sending.sent, first.errors) == (1, [])
    [sent] = [m for m in sandbox.gmail.messages(REP) if "SENT" in m.labels]
    headers = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert headers["Subject"] == "Hello Pat" and headers["To"] == BUYER
    assert headers["Message-ID"].startswith("<tl-") and headers["List-Unsubscribe-Post"]
    [activity] = sandbox.hubspot.emails_for(contact)
    assert activity["properties"]["hs_email_direction"] == "EMAIL"          # outgoing, logged on the contact
    second = engine.run_once()                                                # step 2 is two days away
    assert second.sending.sent == 0
    assert len([m for m in sandbox.gmail.messages(REP) if "SENT" in m.labels]) == 1
    # The mailbox sync meets the mail in SENT (log_outgoing is on) and intends the same key: logged once.
    assert len(sandbox.hubspot.emails_for(contact)) == 1
    engine.close()
