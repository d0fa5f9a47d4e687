"""Opt-in and opt-out by label (issue #19, part 5): `only_labelled` / `never_labelled` on Gmail (labels), Outlook
(categories) and IMAP (keywords, real Dovecot), through the whole engine over real HTTP to the sandbox.

Labelling a message after it was synced is honoured on the next pull: an opt-in label added later gets the message
logged (once); an opt-out label added after it was logged removes the activity from the CRM (HubSpot engagement
archived, Salesforce Task deleted, read back with the official clients) and the audit says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects.emails.exceptions import NotFoundException
from imapclient import IMAPClient
from simple_salesforce import Salesforce
from sqlmodel import select

from tests.engine.world import email
from tests.fixtures.dovecot import DovecotAccount
from threadline.adapters.salesforce import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.store.tables import AuditRow, MessageRow, OutboxRow

DOMAIN = "northwind.example"
REP = f"rep@{DOMAIN}"
BUYER = "buyer@customer.example"


def reply(n: int, to: str = REP) -> bytes:
    return email(BUYER, to, f"Re: Pilot {n}", f"Reply number {n}: we are in.", msg_id=f"<label-{n}@customer.example>",
                 in_reply_to=f"<pilot-{n}@{DOMAIN}>")


# -- mailboxes -----------------------------------------------------------------------------------

class Mailbox:
    """A rep's mailbox in one provider: deliver mail, label it as the rep would, and its config entry."""

    kind = ""
    address = REP

    def deliver(self, raw: bytes, labels: tuple[str, ...] = ()) -> str:
        message = self._deliver(raw)
        for label in labels:
            self.label(message, label)
        return message

    def _deliver(self, raw: bytes) -> str:
        raise NotImplementedError

    def label(self, message: str, name: str) -> None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class GmailBox(Mailbox):
    sandbox: SandboxServer
    label_ids: dict[str, str] = field(default_factory=dict)
    kind = "gmail"

    def _deliver(self, raw: bytes) -> str:
        return self.sandbox.gmail.deliver(REP, raw, ["INBOX", "UNREAD"])

    def label(self, message: str, name: str) -> None:
        if name.casefold() not in self.label_ids:      # Gmail label names are unique case-insensitively
            self.label_ids[name.casefold()] = self.sandbox.gmail.create_label(REP, name)
        self.sandbox.gmail.label(REP, message, add=[self.label_ids[name.casefold()]])

    def config(self) -> dict[str, Any]:
        s, url = self.sandbox.settings, self.sandbox.url
        assert self.sandbox.tls is not None
        return {"kind": "gmail", "address": REP, "base_url": url, "token_uri": f"{url}/token",
                "client_id": s.google_client_id, "client_secret": s.google_client_secret,
                "refresh_token": self.sandbox.gmail.oauth.issue_refresh_token(REP),
                "ca_file": str(self.sandbox.tls.ca_cert)}


@dataclass
class OutlookBox(Mailbox):
    sandbox: SandboxServer
    categories: dict[str, list[str]] = field(default_factory=dict)
    kind = "outlook"

    def _deliver(self, raw: bytes) -> str:
        return self.sandbox.graph.deliver(REP, raw, "inbox")

    def label(self, message: str, name: str) -> None:
        self.categories.setdefault(message, []).append(name)
        self.sandbox.graph.categorize(REP, message, self.categories[message])

    def config(self) -> dict[str, Any]:
        s, url = self.sandbox.settings, self.sandbox.url
        assert self.sandbox.tls is not None
        return {"kind": "outlook", "address": REP, "tenant": s.graph_tenant_id, "client_id": s.graph_client_id,
                "client_secret": s.graph_client_secret, "authority_host": url, "base_url": f"{url}/v1.0",
                "ca_file": str(self.sandbox.tls.ca_cert)}


@dataclass
class ImapBox(Mailbox):
    account: DovecotAccount
    kind = "imap"

    @property
    def address(self) -> str:  # type: ignore[override]
        return self.account.username

    def _deliver(self, raw: bytes) -> str:
        return str(self.account.deliver(raw))

    def label(self, message: str, name: str) -> None:
        """STORE +FLAGS (keyword) as the rep's mail client does."""
        with IMAPClient(self.account.host, self.account.server.imap_port, ssl=False, timeout=10) as client:
            client.login(self.account.username, self.account.password)
            client.select_folder("INBOX")
            client.add_flags([int(message)], [name.encode()])

    def config(self) -> dict[str, Any]:
        a = self.account
        return {"kind": "imap", "address": a.username, "host": "127.0.0.1", "port": a.server.imap_port,
                "security": "starttls", "ca_file": str(a.ca_file), "username": a.username, "password": a.password}


# -- CRMs ----------------------------------------------------------------------------------------

@dataclass
class Crm:
    """A CRM in the sandbox with one contact (the buyer): its config entry and the activities logged on it."""

    config: dict[str, Any]
    contact: str
    activities: Callable[[], list[dict[str, Any]]]


def hubspot(sandbox: SandboxServer) -> Crm:
    contact = sandbox.hubspot.add_contact(BUYER, firstname="Pat")
    assert sandbox.tls is not None
    return Crm({"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                "search_index_lag": "0s", "ca_file": str(sandbox.tls.ca_cert)},
               contact, lambda: sandbox.hubspot.emails_for(contact))


def salesforce(sandbox: SandboxServer) -> Crm:
    org = sandbox.salesforce
    for wanted in SalesforceNames().wanted():      # the admin created Threadline's fields, as `check` asks
        org.add_custom_field(wanted.object_name, wanted.api_name, wanted.api_types[0],
                             external_id=wanted.external_id, unique=wanted.unique)
    org.add_user(REP, first_name="Alex", last_name="Morgan", email=REP)
    contact = org.add_contact(BUYER, first_name="Pat", last_name="Buyer")
    s = sandbox.settings
    assert sandbox.tls is not None
    return Crm({"kind": "salesforce", "login_url": sandbox.url, "consumer_key": s.salesforce_consumer_key,
                "client_secret": s.salesforce_consumer_secret, "ca_file": str(sandbox.tls.ca_cert),
                "refresh_token": org.issue_refresh_token(s.salesforce_consumer_key, s.salesforce_username)},
               contact, lambda: org.tasks_for(contact))


@pytest.fixture
def mailbox_of(tls_sandbox: SandboxServer, request: pytest.FixtureRequest) -> Callable[[str], Mailbox]:
    def make(kind: str) -> Mailbox:
        if kind == "gmail":
            return GmailBox(tls_sandbox)
        if kind == "outlook":
            tls_sandbox.graph.register_user(REP)
            return OutlookBox(tls_sandbox)
        server = request.getfixturevalue("dovecot_server")
        return ImapBox(DovecotAccount(server, server.add_user()))
    return make


@pytest.fixture
def engines(tmp_path: Path, store_url: str) -> Iterator[Callable[..., SyncEngine]]:
    made: list[SyncEngine] = []

    def make(crm: Crm, box: Mailbox, mailbox_settings: dict[str, Any] | None = None, **sync: Any) -> SyncEngine:
        config = {"store": {"url": store_url}, "crm": crm.config,
                  "mailboxes": [{**box.config(), **(mailbox_settings or {})}],
                  "sync": {"internal_domains": [DOMAIN], "backfill_days": 30, **sync}}
        made.append(build_engine(parse_settings(config, tmp_path / "threadline.yaml", env={})))
        return made[-1]
    yield make
    for engine in made:
        engine.close()


def texts(crm: Crm) -> list[str]:
    """The logged activities' text (HubSpot hs_email_text, Salesforce Description), sorted."""
    return sorted(str(a.get("properties", a).get("hs_email_text") or a.get("Description") or "").split("\n")[0]
                  for a in crm.activities())


KINDS = ["gmail", "outlook", "imap"]


# -- opt-in --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_only_labelled_mail_is_logged_and_a_label_added_later_logs_it_once(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine],
        kind: str) -> None:
    box = mailbox_of(kind)
    crm = hubspot(tls_sandbox)
    unlabelled = box.deliver(reply(1))
    box.deliver(reply(2), labels=("CRM",))
    engine = engines(crm, box, {"only_labelled": "CRM"})         # the mailbox's own setting
    summary = engine.run_once()
    assert summary.errors == []
    assert texts(crm) == ["Reply number 2: we are in."]
    with engine.store.session() as session:
        skipped = session.exec(select(MessageRow).where(MessageRow.message_id == "<label-1@customer.example>")).one()
    assert (skipped.decision, skipped.reason) == ("skipped", "label: not labelled CRM")

    box.label(unlabelled, "crm")                                  # names match case-insensitively
    engine.run_once()
    assert texts(crm) == ["Reply number 1: we are in.", "Reply number 2: we are in."]
    engine.run_once()                                             # seen again: nothing logged twice
    box.label(unlabelled, "Deals")                                # another label change hands it over again
    engine.run_once()
    assert len(crm.activities()) == 2
    contact = tls_sandbox.hubspot.object("contacts", crm.contact).properties
    assert contact["threadline_reply_count"] == "2"


# -- opt-out -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_never_labelled_mail_is_not_logged_and_labelling_logged_mail_removes_it_from_hubspot(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine],
        kind: str) -> None:
    box = mailbox_of(kind)
    crm = hubspot(tls_sandbox)
    box.deliver(reply(1), labels=("Private",))
    logged = box.deliver(reply(2))
    engine = engines(crm, box, never_labelled=["Private"])        # the global setting
    engine.run_once()
    [activity] = crm.activities()
    assert activity["properties"]["hs_email_text"] == "Reply number 2: we are in."
    remote_id = str(activity["id"])

    box.label(logged, "Private")
    summary = engine.run_once()
    assert summary.errors == []
    assert crm.activities() == []
    assert tls_sandbox.tls is not None
    client = HubSpot(access_token=tls_sandbox.settings.hubspot_token, host=tls_sandbox.url,
                     ssl_ca_cert=str(tls_sandbox.tls.ca_cert))
    with pytest.raises(NotFoundException):                        # the official client: the engagement is gone
        client.crm.objects.emails.basic_api.get_by_id(remote_id)
    assert tls_sandbox.hubspot.object("contacts", crm.contact).properties["threadline_reply_count"] == "0"
    with engine.store.session() as session:
        [audit] = session.exec(select(AuditRow).where(AuditRow.kind == "delete_email")).all()
        row = session.exec(select(MessageRow).where(MessageRow.message_id == "<label-2@customer.example>")).one()
        delete = session.exec(select(OutboxRow).where(OutboxRow.kind == "delete_email")).one()
        log_row = session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email")).one()
    assert audit.rule == "privacy:never_labelled" and audit.contact_id == crm.contact
    assert "labelled 'Private' after it was logged: its CRM activity is removed" in audit.reason
    assert json.loads(audit.detail)["label"] == "Private"
    assert row.decision == "withdrawn"
    assert (delete.status, delete.remote_id) == ("done", remote_id)
    assert log_row.status == "cancelled" and "withdrawn" in (log_row.last_error or "")

    engine.run_once()                                             # nothing more happens
    box.label(logged, "Later")
    engine.run_once()
    assert crm.activities() == []
    with engine.store.session() as session:
        assert len(session.exec(select(OutboxRow).where(OutboxRow.kind == "delete_email")).all()) == 1


def test_an_opt_out_label_added_to_logged_mail_deletes_the_salesforce_task(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine],
        monkeypatch: pytest.MonkeyPatch) -> None:
    box = mailbox_of("gmail")
    crm = salesforce(tls_sandbox)
    logged = box.deliver(reply(3))
    engine = engines(crm, box, never_labelled="Private")
    engine.run_once()
    [task] = crm.activities()
    box.label(logged, "Private")
    assert engine.run_once().errors == []
    assert crm.activities() == []
    assert tls_sandbox.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.tls.ca_cert))
    token = requests.post(f"{tls_sandbox.url}/services/oauth2/token", verify=str(tls_sandbox.tls.ca_cert), data={
        "grant_type": "refresh_token", "client_id": crm.config["consumer_key"],
        "client_secret": crm.config["client_secret"], "refresh_token": crm.config["refresh_token"]}).json()
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], version="61.0")
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{task['Id']}'")["totalSize"] == 0
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Task WHERE Id = '{task['Id']}'", include_deleted=True)
    assert [r["IsDeleted"] for r in deleted["records"]] == [True]
    with engine.store.session() as session:
        [audit] = session.exec(select(AuditRow).where(AuditRow.kind == "delete_email")).all()
    assert audit.contact_id == crm.contact


def test_an_opt_out_label_added_before_the_activity_was_written_cancels_it_and_nothing_reaches_the_crm(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine]) -> None:
    box = mailbox_of("gmail")
    crm = hubspot(tls_sandbox)
    message = box.deliver(reply(4))
    engine = engines(crm, box, never_labelled=["Private"])
    engine.run_once(drain=False)                     # ingested and intended, not yet written to HubSpot
    box.label(message, "Private")
    engine.run_once(drain=False)
    with engine.store.session() as session:
        assert session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email")).one().status == "pending"
    creates = tls_sandbox.stats.snapshot()["by_route"].get("hubspot POST batch/create", 0)
    engine.run_once()
    assert crm.activities() == []
    assert tls_sandbox.stats.snapshot()["by_route"].get("hubspot POST batch/create", 0) == creates
    with engine.store.session() as session:
        log_row = session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email")).one()
        delete = session.exec(select(OutboxRow).where(OutboxRow.kind == "delete_email")).one()
        [audit] = session.exec(select(AuditRow).where(AuditRow.kind == "delete_email")).all()
    assert log_row.status == "cancelled" and (delete.status, delete.remote_id) == ("done", None)
    assert audit.contact_id == crm.contact


@pytest.mark.parametrize("kind", KINDS)
def test_check_names_a_label_the_mailbox_does_not_have(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], tmp_path: Path, kind: str) -> None:
    from threadline.connector.cli.checks import label_checks
    from threadline.connector.wiring.build import build_mailbox

    box = mailbox_of(kind)
    if kind == "outlook":       # categories live in the master list (reading it needs MailboxSettings.Read)
        tls_sandbox.graph.add_category(REP, "CRM")
        tls_sandbox.graph.register_app("labels-app", "labels-secret", roles=("Mail.Read", "MailboxSettings.Read"))
    box.deliver(reply(5), labels=("CRM",))
    crm = hubspot(tls_sandbox)
    entry = {**box.config(), "never_labelled": ["Privte"]}
    if kind == "outlook":
        entry.update(client_id="labels-app", client_secret="labels-secret")
    settings = parse_settings({"store": {"url": f"sqlite:///{tmp_path / 's.db'}"}, "crm": crm.config,
                               "mailboxes": [entry], "sync": {"only_labelled": ["crm"]}},
                              tmp_path / "threadline.yaml", env={})
    [mailbox_settings] = settings.mailboxes
    adapter = build_mailbox(settings, mailbox_settings)
    try:
        lines = {r.item: r for r in label_checks(settings, mailbox_settings, adapter)}
    finally:
        adapter.close()
    assert set(lines) == {"only_labelled crm", "never_labelled Privte"}
    assert lines["only_labelled crm"].ok
    assert not lines["never_labelled Privte"].ok
    assert "no " in lines["never_labelled Privte"].detail and "'Privte'" in lines["never_labelled Privte"].detail


def test_check_says_why_outlook_categories_cannot_be_read(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], tmp_path: Path) -> None:
    from threadline.connector.cli.checks import label_checks
    from threadline.connector.wiring.build import build_mailbox

    box = mailbox_of("outlook")                      # the sandbox's default app: Mail.Read and Mail.Send only
    settings = parse_settings({"store": {"url": f"sqlite:///{tmp_path / 's.db'}"}, "crm": hubspot(tls_sandbox).config,
                               "mailboxes": [{**box.config(), "only_labelled": "CRM"}]},
                              tmp_path / "threadline.yaml", env={})
    adapter = build_mailbox(settings, settings.mailboxes[0])
    try:
        [line] = label_checks(settings, settings.mailboxes[0], adapter)
    finally:
        adapter.close()
    assert not line.ok and "MailboxSettings.Read" in line.detail


# -- IMAP folders as labels ----------------------------------------------------------------------

def imap_move(box: ImapBox, uid: str, folder: str) -> None:
    """The rep drags a message into a folder (IMAP MOVE, RFC 6851: a new UID there)."""
    with IMAPClient(box.account.host, box.account.server.imap_port, ssl=False, timeout=10) as client:
        client.login(box.account.username, box.account.password)
        client.select_folder("INBOX")
        client.move([int(uid)], folder)


def imap_create_folder(box: ImapBox, folder: str) -> None:
    with IMAPClient(box.account.host, box.account.server.imap_port, ssl=False, timeout=10) as client:
        client.login(box.account.username, box.account.password)
        client.create_folder(folder)


def test_an_imap_folder_works_as_an_opt_in_label(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine]) -> None:
    box = mailbox_of("imap")
    assert isinstance(box, ImapBox)
    crm = hubspot(tls_sandbox)
    imap_create_folder(box, "CRM")
    moved = box.deliver(reply(6))
    box.account.deliver(reply(7), folder="CRM")          # filed there by a server-side rule
    engine = engines(crm, box, only_labelled="crm")
    engine.run_once()
    assert texts(crm) == ["Reply number 7: we are in."]
    imap_move(box, moved, "CRM")
    engine.run_once()
    assert texts(crm) == ["Reply number 6: we are in.", "Reply number 7: we are in."]
    engine.run_once()
    assert len(crm.activities()) == 2


def test_moving_logged_mail_into_an_imap_opt_out_folder_removes_it_from_the_crm(
        tls_sandbox: SandboxServer, mailbox_of: Callable[[str], Mailbox], engines: Callable[..., SyncEngine]) -> None:
    box = mailbox_of("imap")
    assert isinstance(box, ImapBox)
    crm = hubspot(tls_sandbox)
    imap_create_folder(box, "Private")
    logged = box.deliver(reply(8))
    engine = engines(crm, box, never_labelled=["Private"])
    engine.run_once()
    assert texts(crm) == ["Reply number 8: we are in."]
    imap_move(box, logged, "Private")
    assert engine.run_once().errors == []
    assert crm.activities() == []
    with engine.store.session() as session:
        [audit] = session.exec(select(AuditRow).where(AuditRow.kind == "delete_email")).all()
        rows = {r.provider_id.split("/")[0]: r.decision for r in session.exec(select(MessageRow)).all()}
    assert "labelled 'Private' after it was logged" in audit.reason
    assert rows == {"INBOX": "withdrawn", "Private": "skipped"}


def test_threadline_check_names_the_missing_label_and_fails(sandbox: SandboxServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    s = sandbox.settings
    sandbox.gmail.create_label(REP, "CRM")
    config = {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": s.hubspot_token},
              "mailboxes": [{"kind": "gmail", "address": REP, "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
                             "client_id": s.google_client_id, "client_secret": s.google_client_secret,
                             "refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "only_labelled": "CRM",
                             "never_labelled": ["Privat"]}]}
    (tmp_path / "threadline.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "threadline", "check", "--json", "--config",
                           str(tmp_path / "threadline.yaml")], capture_output=True, text=True, timeout=120)
    lines = {r["item"]: r for r in json.loads(done.stdout) if "labelled" in r["item"]}
    assert done.returncode == 1
    assert lines["only_labelled CRM"]["ok"] and not lines["never_labelled Privat"]["ok"]
    assert "no Gmail label named 'Privat'" in lines["never_labelled Privat"]["detail"]
