"""One small world per provider for the contract suite: adapters built through the real config wiring.

Every provider runs on one TLS sandbox (Outlook's MSAL insists on https), so the
contract also covers each adapter's `ca_file` wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from threadline.adapters.protocols import CrmAdapter, MailboxAdapter
from threadline.adapters.salesforce import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.wiring.build import build_crm, build_mailbox
from threadline.sandbox.server import SandboxServer

REP = "alex@northwind.example"


def mail(n: int, *, sender: str = "buyer@customer.example", to: str = REP, subject: str = "Question") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, f"{subject} {n}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<contract-{n}-{subject.replace(' ', '')}@customer.example>"
    msg.set_content(f"Body {n}")
    return msg.as_bytes()


@dataclass
class CrmWorld:
    adapter: CrmAdapter
    add_contact: Callable[[str], str]
    touch: Callable[[str], None]                          # modify a contact so it must be pulled again
    property_of: Callable[[str, str], Any]
    property_names: dict[str, str]
    # the rule layer's world: play the rep and the admin
    add_owner: Callable[[str], str] = lambda email: ""
    complete_task: Callable[[str], None] = lambda task_id: None
    add_meeting: Callable[[str, datetime], str] = lambda contact_id, starts_at: ""
    create_rule_fields: Callable[[], None] = lambda: None      # what the admin must do first (Salesforce)
    task_create_path: str = ""                                 # where a task create goes (for faults)


@dataclass
class MailboxWorld:
    adapter: MailboxAdapter
    deliver: Callable[[bytes, str], None]                 # (raw, "inbox" | "sent")
    broken: Callable[[], MailboxAdapter]                  # same mailbox, bad credentials


def _settings(server: SandboxServer, tmp: Path, crm: str, mailbox: str, seeded: dict[str, str]) -> Any:
    return parse_settings(demo_config(server, f"sqlite:///{tmp / 'c.db'}", seeded, crm, mailbox), tmp / "c.yaml", env={})


def crm_world(kind: str, server: SandboxServer, tmp: Path) -> CrmWorld:
    if kind == "hubspot":
        settings = _settings(server, tmp, "hubspot", "gmail", {"owner_id": "1", "refresh_token": "x"})
        hub = server.hubspot
        return CrmWorld(build_crm(settings), lambda e: hub.add_contact(e),
                        lambda cid: hub.update_contact(cid, firstname="Changed"),
                        lambda cid, name: hub.object("contacts", cid).properties.get(name),
                        {"count": "threadline_reply_count", "snippet": "threadline_last_reply_snippet",
                         "score": "threadline_score", "owner": "hubspot_owner_id"},
                        add_owner=lambda email: hub.add_owner(email), complete_task=hub.complete_task,
                        add_meeting=hub.add_meeting, task_create_path="/crm/v3/objects/tasks/batch")
    org = server.salesforce
    for wanted in SalesforceNames().wanted():
        org.add_custom_field(wanted.object_name, wanted.api_name, wanted.api_types[0],
                             external_id=wanted.external_id, unique=wanted.unique)
    token = org.issue_refresh_token(server.settings.salesforce_consumer_key, server.settings.salesforce_username)
    settings = _settings(server, tmp, "salesforce", "gmail", {"owner_id": "1", "refresh_token": "x",
                                                               "sf_refresh_token": token})
    return CrmWorld(build_crm(settings), lambda e: org.add_contact(e, last_name="Buyer"),
                    lambda cid: org.update("Contact", cid, FirstName="Changed"),
                    lambda cid, name: org.record("Contact", cid).get(name),
                    {"count": "Threadline_Reply_Count__c", "snippet": "Threadline_Last_Reply__c",
                     "score": "Threadline_Score__c", "owner": "OwnerId"},
                    add_owner=lambda email: org.add_user(email), complete_task=org.complete_task,
                    add_meeting=org.add_event,
                    create_rule_fields=lambda: [org.add_custom_field(obj, "Threadline_Score__c", "double")
                                                for obj in ("Contact", "Lead")],
                    task_create_path="/services/data/v61.0/composite")


def mailbox_world(kind: str, server: SandboxServer, tmp: Path, imap_account: Any = None) -> MailboxWorld:
    if kind == "imap":
        from tests.engine.world import imap_mailbox_config
        config = demo_config(server, f"sqlite:///{tmp / 'c.db'}", {"owner_id": "1", "refresh_token": "x"})
        config["mailboxes"] = [imap_mailbox_config(imap_account)]
        settings = parse_settings(config, tmp / "c.yaml", env={})
        folders = {"inbox": "INBOX", "sent": "Sent"}
        bad = dict(config["mailboxes"][0], password="wrong-password")
        return MailboxWorld(build_mailbox(settings, settings.mailboxes[0]),
                            lambda raw, folder: imap_account.deliver(raw, folders[folder]),
                            lambda: build_mailbox(settings, type(settings.mailboxes[0]).model_validate(bad)))
    if kind == "outlook":
        server.graph.register_user(REP)
        settings = _settings(server, tmp, "hubspot", "outlook", {"owner_id": "1"})
        box = settings.mailboxes[0]
        return MailboxWorld(build_mailbox(settings, box),
                            lambda raw, folder: server.graph.deliver(REP, raw, "sentitems" if folder == "sent" else "inbox"),
                            lambda: build_mailbox(settings, box.model_copy(update={"client_secret": _secret("wrong")})))
    settings = _settings(server, tmp, "hubspot", "gmail",
                         {"owner_id": "1", "refresh_token": server.gmail.oauth.issue_refresh_token(REP)})
    box = settings.mailboxes[0].model_copy(update={"ca_file": server.tls.ca_cert if server.tls else None})
    return MailboxWorld(build_mailbox(settings, box),
                        lambda raw, folder: server.gmail.deliver(REP, raw, ("SENT",) if folder == "sent" else ("INBOX",)),
                        lambda: build_mailbox(settings, box.model_copy(update={"refresh_token": _secret("revoked")})))


def _secret(value: str) -> Any:
    from pydantic import SecretStr
    return SecretStr(value)
