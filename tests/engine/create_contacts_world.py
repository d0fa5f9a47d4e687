"""A world for sync.create_contacts: a CRM in the sandbox (HubSpot or Salesforce) with the reps as owners/users,
their Gmail mailboxes in the sandbox, and engines built from real configs over one store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

from threadline.adapters.salesforce.schema import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import sandbox_config
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

REPS = ("alex@northwind.example", "sam@northwind.example")
STRANGER = "quinn.hale@acme-corp.co.uk"
STRANGER_FROM = f"Quinn Hale <{STRANGER}>"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def message(sender: str, to: str, subject: str, body: str, msg_id: str, at: datetime,
            in_reply_to: str | None = None, cc: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    msg["Date"], msg["Message-ID"] = format_datetime(at), msg_id
    if in_reply_to:
        msg["In-Reply-To"], msg["References"] = in_reply_to, in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def outreach(rep: str = REPS[0], to: str = STRANGER) -> bytes:
    return message(f"Alex Morgan <{rep}>", to, "Pilot for Acme", "Hi Quinn, shall we run a pilot?\n",
                   "<outreach-1@northwind.example>", T0)


def answer(rep: str = REPS[0], cc: str | None = None) -> bytes:
    return message(STRANGER_FROM, rep, "Re: Pilot for Acme", "Yes, let's run it in March.\n",
                   "<quinn-1@acme-corp.co.uk>", T0 + timedelta(hours=1), "<outreach-1@northwind.example>", cc)


def cold(sender: str = STRANGER_FROM, rep: str = REPS[0]) -> bytes:
    return message(sender, rep, "Your product", "Do you have a price list?\n", "<cold-1@acme-corp.co.uk>",
                   T0 + timedelta(hours=2))


class World:
    """The CRM `crm` with both reps, their Gmail mailboxes, and `config(...)` / `engine(...)` over one store."""

    def __init__(self, sandbox: SandboxServer, tmp: Path, crm: str, store_url: str | None = None) -> None:
        self.sandbox, self.tmp, self.crm = sandbox, tmp, crm
        self.store_url = store_url or f"sqlite:///{tmp / 'store.db'}"
        self.owners: dict[str, str] = {}
        if crm == "salesforce":
            org = sandbox.salesforce
            for wanted in SalesforceNames().wanted():      # the admin created Threadline's fields, as `check` asks
                org.add_custom_field(wanted.object_name, wanted.api_name, wanted.api_types[0],
                                     external_id=wanted.external_id, unique=wanted.unique)
            for rep in REPS:
                self.owners[rep] = org.add_user(rep, first_name="Rep", last_name=rep.split("@")[0], email=rep)
            self.sf_token = org.issue_refresh_token(sandbox.settings.salesforce_consumer_key,
                                                    sandbox.settings.salesforce_username)
        else:
            for rep in REPS:
                self.owners[rep] = sandbox.hubspot.add_owner(rep, first_name="Rep", last_name=rep.split("@")[0])
        self.tokens = {rep: sandbox.gmail.oauth.issue_refresh_token(rep) for rep in REPS}
        self.engines: list[SyncEngine] = []

    def deliver(self, rep: str, raw: bytes, folder: str = "inbox") -> None:
        self.sandbox.gmail.deliver(rep, raw, ("SENT",) if folder == "sent" else ("INBOX",))

    def config(self, mode: str, reps: tuple[str, ...] = REPS[:1], **sync: Any) -> dict[str, Any]:
        seeded = {"owner_id": self.owners[reps[0]], "refresh_token": self.tokens[reps[0]]}
        if self.crm == "salesforce":
            seeded["sf_refresh_token"] = self.sf_token
        ca = str(self.sandbox.tls.ca_cert) if self.sandbox.tls else None
        config = sandbox_config(self.sandbox.url, self.sandbox.settings, seeded, self.crm, "gmail", ca_file=ca,
                                store_url=self.store_url)
        template = config["mailboxes"][0]
        config["mailboxes"] = [{**template, "address": rep, "owner_id": self.owners[rep],
                                "refresh_token": self.tokens[rep]} for rep in reps]
        config["sync"].update(create_contacts=mode, **sync)
        return config

    def engine(self, mode: str, reps: tuple[str, ...] = REPS[:1], **sync: Any) -> SyncEngine:
        built = build_engine(parse_settings(self.config(mode, reps, **sync), self.tmp / "threadline.yaml", env={}))
        self.engines.append(built)
        return built

    def write_config(self, mode: str, reps: tuple[str, ...] = REPS[:1]) -> Path:
        path = self.tmp / "threadline.yaml"
        path.write_text(yaml.safe_dump(self.config(mode, reps)))
        return path

    # what the CRM holds -------------------------------------------------------------------------
    def people(self, address: str = STRANGER) -> list[dict[str, Any]]:
        """The CRM's live records with this address: HubSpot contacts; Salesforce Contacts and Leads."""
        if self.crm == "salesforce":
            org = self.sandbox.salesforce.org
            return [{"id": r["Id"], "type": name, "first": r.get("FirstName"), "last": r.get("LastName"),
                     "company": r.get("Company"), "owner": r.get("OwnerId")}
                    for name in ("Contact", "Lead") for r in org.rows(name)
                    if (r.get("Email") or "").lower() == address and not r.get("IsDeleted")]
        return [{"id": str(c.id), "type": "contact", "first": c.properties.get("firstname"),
                 "last": c.properties.get("lastname"), "company": c.properties.get("company"),
                 "owner": c.properties.get("hubspot_owner_id")}
                for c in self.sandbox.hubspot.contacts if (c.properties.get("email") or "").lower() == address]

    def logged_on(self, record_id: str) -> list[str]:
        """The subjects of the email activities logged on a record."""
        if self.crm == "salesforce":
            return [t["Subject"] for t in self.sandbox.salesforce.tasks_for(record_id)]
        return [e["properties"]["hs_email_subject"] for e in self.sandbox.hubspot.emails_for(record_id)]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
