"""One small world per HTTP provider for the fault suite: the engine built through the real config wiring
against the TLS sandbox, a few contacts, replies waiting in the rep's mailbox and (where the mailbox sends)
a one-step sequence, plus what to read back from the sandbox's final state.

The world is named after the provider the faults are aimed at: "hubspot" and "salesforce" pair the CRM with
a Gmail mailbox; "gmail" and "graph" pair the mailbox with HubSpot and send sequence email from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx

from threadline.adapters.salesforce import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.run import demo_config
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine, SyncSummary

REP = "alex@northwind.example"
CONTACTS = 3
REPLIES = 4                 # contact 0 replies twice
PROSPECTS = 2               # HubSpot contacts who get the sequence email (Gmail and Graph worlds)
SEQUENCE = "fault-outreach"
#: A short client timeout, so a 'slow' fault is a real timeout without a 30 s wait. Not shorter: on a loaded CI
#: machine (2 cores, 4 test workers) an honest sandbox answer took over 1 s and was retried as a timeout.
CLIENT_TIMEOUT = 2.5
PROVIDERS = ("hubspot", "salesforce", "gmail", "graph")


def buyer(i: int) -> str:
    return f"buyer{i}@customer{i}.example"


def reply(n: int) -> bytes:
    """Reply n from buyer n % CONTACTS: new text above a quoted original."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = buyer(n % CONTACTS), REP, f"Re: Proposal {n}"
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(hours=2))
    msg["Message-ID"] = f"<fault-reply-{n}@customer.example>"
    msg.set_content(f"Reply number {n}: yes, let's talk.\n\nOn Mon, Rep <{REP}> wrote:\n> Original outreach {n}\n")
    return msg.as_bytes()


@dataclass(frozen=True)
class Paths:
    """Where the faults go for one provider (path prefixes as the sandbox sees them)."""

    provider: str            # the sandbox's provider name (stats and faults)
    create: str              # the ambiguous create: activity log (CRM) or send (mailbox)
    read: str                # an idempotent read the sync makes
    token: str               # the OAuth token endpoint ("" if the provider has none in play)


PATHS = {
    "hubspot": Paths("hubspot", "/crm/v3/objects/emails/batch/create", "/crm/v3/objects/contacts", ""),
    "salesforce": Paths("salesforce", "/services/data/v61.0/composite/sobjects", "/services/data/v61.0/query",
                        "/services/oauth2/token"),
    "gmail": Paths("gmail", "/gmail/v1/users/me/messages/send", "/gmail/v1/users/me/messages", "/token"),
    "graph": Paths("graph", f"/v1.0/users/{REP}/sendMail", f"/v1.0/users/{REP}/mailFolders", ""),
}


@dataclass
class FaultWorld:
    """The engine and the sandbox for one provider under fault, and the sandbox's final state read back."""

    provider: str
    server: SandboxServer
    settings: Settings
    engine: SyncEngine
    contact_ids: list[str]
    paths: Paths
    revoke: Callable[[], None]               # the admin (or the provider) revokes our credentials
    expire_access: Callable[[], None]        # every access token we hold stops working
    config: dict[str, Any] = field(default_factory=dict)   # the threadline.yaml it was built from
    sends: bool = False
    summaries: list[SyncSummary] = field(default_factory=list)

    @property
    def source(self) -> str:
        """The store's name of the source under fault."""
        return f"crm:{self.provider}" if self.provider in ("hubspot", "salesforce") else f"mailbox:{REP}"

    def reauthorize(self) -> None:
        """What the admin does after a revocation: new credentials into the config, then a restart."""
        s, crm, box = self.server.settings, self.config["crm"], self.config["mailboxes"][0]
        if self.provider == "hubspot":
            self.server.faults.clear()          # the new private-app token is accepted
        elif self.provider == "salesforce":
            crm["refresh_token"] = self.server.salesforce.oauth.issue_refresh_token(s.salesforce_consumer_key,
                                                                                  s.salesforce_username)
        elif self.provider == "gmail":
            box["refresh_token"] = self.server.gmail.oauth.issue_refresh_token(REP)
        else:
            box["client_secret"] = "a-fresh-client-secret"
            self.server.graph.identity.register_app(s.graph_client_id, box["client_secret"])
        self.close()
        self.settings = parse_settings(self.config, Path("threadline.yaml"), env={})
        self.engine = build_engine(self.settings)
        _short_timeouts(self.engine)

    def secrets(self) -> list[str]:
        """Every credential in the config (none may show in status, readiness or the status page)."""
        sections = [self.config["crm"], *self.config["mailboxes"]]
        return [str(v) for section in sections for k, v in section.items()
                if v and ("secret" in k or k in ("token", "refresh_token"))]

    def cycle(self) -> SyncSummary:
        summary = self.engine.run_once()
        self.summaries.append(summary)
        return summary

    def settle(self, most: int = 6) -> int:
        """Cycles until one ends clean with nothing left to do; returns how many ran (fails if never).

        Between cycles the outbox's retry delays pass at once: what a later cycle of the daemon would do."""
        for n in range(1, most + 1):
            summary = self.cycle()
            if not summary.errors and self.work_left() == 0:
                return n
            self.retries_fall_due()
        raise AssertionError(f"not settled after {most} cycles: {self.summaries[-1].errors}, "
                             f"{self.work_left()} outbox rows left")

    def retries_fall_due(self) -> None:
        """Time passes: every outbox row waiting for its retry is due now."""
        from sqlmodel import col, update

        from threadline.sync.store.tables import OutboxRow, utcnow
        with self.engine.store.session() as session:
            session.exec(update(OutboxRow).where(col(OutboxRow.status) == "pending")  # type: ignore[call-overload]
                         .values(next_attempt_at=utcnow()))
            session.commit()

    def work_left(self) -> int:
        from threadline.sync.outbox import rows as outbox
        with self.engine.store.session() as session:
            counts = outbox.counts_by_status(session)
        return sum(n for status, n in counts.items() if status in ("pending", "in_flight", "failed"))

    # -- the sandbox's final state --------------------------------------------------------------------

    def logged_replies(self) -> Counter[str]:
        """How often each reply subject is logged on the CRM, over every contact."""
        if self.provider == "salesforce":
            org = self.server.salesforce
            return Counter(t["Subject"].removeprefix("Email: ") for cid in self.contact_ids for t in org.tasks_for(cid))
        return Counter(e["properties"]["hs_email_subject"] for cid in self.contact_ids
                       for e in self.server.hubspot.emails_for(cid)
                       if e["properties"].get("hs_email_direction") == "INCOMING_EMAIL")

    def reply_counts(self) -> list[float]:
        """The reply-count property of each contact, as the CRM holds it."""
        if self.provider == "salesforce":
            return [float(self.server.salesforce.record("Contact", cid).get("Threadline_Reply_Count__c") or 0)
                    for cid in self.contact_ids]
        return [float(self.server.hubspot.object("contacts", cid).properties.get("threadline_reply_count") or 0)
                for cid in self.contact_ids]

    def delivered(self) -> Counter[str]:
        """How often the provider accepted each of our sequence messages (by Message-ID)."""
        from tests.engine.sequence_world import message_id_of
        if self.provider == "gmail":
            raws = [m.raw for m in self.server.gmail.messages(REP) if "SENT" in m.labels]
        else:
            raws = [m.raw for m in self.server.graph.messages(REP, "sentitems")]
        return Counter(message_id_of(raw) for raw in raws)

    def fired(self, kind: str) -> int:
        """How many requests to the provider the sandbox answered with fault `kind` (since the reset)."""
        return self.server.stats.snapshot()["by_route"].get(f"{self.paths.provider} fault:{kind}", 0)

    def requests(self) -> dict[str, int]:
        return dict(self.server.stats.snapshot()["requests"])

    def close(self) -> None:
        self.engine.close()
        for client in _clients_of(self.engine.crm):     # the engine leaves the CRM's connections to us
            client.close()


def expected_logged(replies: int = REPLIES) -> Counter[str]:
    """Each of the first `replies` replies logged once."""
    return Counter(f"Re: Proposal {n}" for n in range(replies))


def expected_counts(replies: int = REPLIES) -> list[float]:
    """Each contact's reply count after the first `replies` replies."""
    return [float(len(range(i, replies, CONTACTS))) for i in range(CONTACTS)]


def build_world(provider: str, server: SandboxServer, tmp: Path) -> FaultWorld:
    """Seed the sandbox for `provider` and build the engine from a parsed threadline.yaml."""
    crm = "salesforce" if provider == "salesforce" else "hubspot"
    mailbox = "outlook" if provider == "graph" else "gmail"
    seeded, contact_ids = _seed_crm(server, crm)
    if mailbox == "outlook":
        server.graph.register_user(REP)
    else:
        seeded["refresh_token"] = server.gmail.oauth.issue_refresh_token(REP)
    for n in range(REPLIES):
        _deliver(server, mailbox, reply(n))
    config = demo_config(server, f"sqlite:///{tmp / 'store.db'}", seeded, crm, mailbox)
    if mailbox == "gmail" and server.tls is not None:
        config["mailboxes"][0]["ca_file"] = str(server.tls.ca_cert)
    sends = provider in ("gmail", "graph")
    if sends:
        config["mailboxes"][0]["sent_copy_delay"] = "1s"
        config["server"] = {"public_url": "https://threadline.test", "unsubscribe_secret": "fault-suite-secret"}
        config["rules"] = {"sequences": [_sequence()]}
    settings = parse_settings(config, tmp / "threadline.yaml", env={})
    engine = build_engine(settings)
    _short_timeouts(engine)
    return FaultWorld(provider, server, settings, engine, contact_ids, PATHS[provider],
                      revoke=_revoker(provider, server, seeded), expire_access=_expirer(provider, server),
                      config=config, sends=sends)


def _seed_crm(server: SandboxServer, crm: str) -> tuple[dict[str, str], list[str]]:
    if crm == "hubspot":
        owner = server.hubspot.add_owner(REP, first_name="Alex", last_name="Morgan")
        ids = [server.hubspot.add_contact(buyer(i), firstname=f"Buyer{i}", hubspot_owner_id=owner)
               for i in range(CONTACTS)]
        for i in range(PROSPECTS):       # they never reply: the sequence's audience
            server.hubspot.add_contact(f"prospect{i}@lead{i}.example", firstname=f"Prospect{i}",
                                       hubspot_owner_id=owner)
        return {"owner_id": owner}, ids
    org = server.salesforce
    for wanted in SalesforceNames().wanted():     # what `threadline check` asks the admin to create
        org.add_custom_field(wanted.object_name, wanted.api_name, wanted.api_types[0],
                             external_id=wanted.external_id, unique=wanted.unique)
    owner = org.add_user(REP, first_name="Alex", last_name="Morgan", email=REP)
    ids = [org.add_contact(buyer(i), first_name=f"Buyer{i}", last_name="Buyer") for i in range(CONTACTS)]
    s = server.settings
    token = org.issue_refresh_token(s.salesforce_consumer_key, s.salesforce_username)
    return {"owner_id": owner, "sf_refresh_token": token}, ids


def _deliver(server: SandboxServer, mailbox: str, raw: bytes) -> None:
    if mailbox == "outlook":
        server.graph.deliver(REP, raw, "inbox")
    else:
        server.gmail.deliver(REP, raw, ("INBOX",))


def _sequence() -> dict[str, Any]:
    """Every prospect enters when first pulled; one step, due at once, any hour. (Prospects only: whether a
    reply older than the enrollment stops it is not what this suite is about.)"""
    return {"name": SEQUENCE, "enroll_on": "contact.created", "on_reply": "exit", "spacing_minutes": 0,
            "enroll_when": {"contact.firstname": {"starts_with": "Prospect"}},
            "daily_cap_per_mailbox": 500,
            "window": {"start": "00:00", "end": "23:59:59", "days": [0, 1, 2, 3, 4, 5, 6]},
            "steps": [{"kind": "email", "subject": "Hello {{ contact.firstname }}", "delay": {"hours": 0},
                       "body": "Hi {{ contact.firstname }}.\nUnsubscribe: {{ unsubscribe_url }}\n"}]}


def _short_timeouts(engine: SyncEngine) -> None:
    """Every HTTP client the engine built gives up after CLIENT_TIMEOUT (production: 30 s)."""
    for owner in [engine.crm, *(b.adapter for b in engine.mailboxes)]:
        for value in _clients_of(owner):
            if isinstance(value, httpx.Client):
                value.timeout = httpx.Timeout(CLIENT_TIMEOUT)
            elif hasattr(value, "timeout") and type(value).__name__ == "Http":     # httplib2 (Gmail)
                value.timeout = CLIENT_TIMEOUT


def _clients_of(obj: Any, depth: int = 0) -> list[Any]:
    found: list[Any] = []
    if depth > 3:
        return found
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(value, httpx.Client) or type(value).__name__ == "Http":
            found.append(value)
        elif type(value).__module__.startswith(("threadline.adapters", "googleapiclient")):
            found += _clients_of(value, depth + 1)
    return found


def _revoker(provider: str, server: SandboxServer, seeded: dict[str, str]) -> Callable[[], None]:
    from threadline.sandbox.faults import Fault
    if provider == "hubspot":
        # A private-app token has no refresh: revoked, every call answers 401 until a new token is set.
        return lambda: server.faults.add(Fault(provider="hubspot", kind="expired_token", count=10_000))
    if provider == "salesforce":
        def revoke_salesforce() -> None:
            server.salesforce.oauth.refresh_tokens.pop(seeded["sf_refresh_token"], None)
            server.salesforce.oauth.expire_sessions()
        return revoke_salesforce
    if provider == "gmail":
        return lambda: server.gmail.oauth.revoke_refresh_token(seeded["refresh_token"])

    def revoke_graph() -> None:     # app-only: the client secret was deleted in Entra ID
        s = server.settings
        server.graph.identity.register_app(s.graph_client_id, "a-new-secret-we-do-not-have")
        server.graph.identity.expire_access_tokens()
    return revoke_graph


def _expirer(provider: str, server: SandboxServer) -> Callable[[], None]:
    if provider == "salesforce":
        return server.salesforce.oauth.expire_sessions
    if provider == "gmail":
        return server.gmail.oauth.expire_access_tokens
    if provider == "graph":
        return server.graph.identity.expire_access_tokens
    return lambda: None
