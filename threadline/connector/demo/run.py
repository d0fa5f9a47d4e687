"""`threadline demo`: the whole loop on embedded defaults (SQLite + the sandbox), no account needed.

It starts the sandbox, seeds HubSpot contacts and a rep's Gmail mailbox, runs a sync, delivers one more reply,
syncs again (incrementally), and shows what landed on which contact in the CRM and why the rest was skipped.
Then a sequence runs end to end (connector/demo/sequence.py): enrol, step 1 sent, reply, stop, task, report.
Then a simulated month of an A/B test (connector/demo/ab_month.py): 40 prospects, sends, replies, variant report.
Last, the team (connector/demo/team.py): three reps found from the CRM's owners, one connected through a link.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from threadline.adapters.salesforce import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.ab_month import ABMonth, DemoClock
from threadline.connector.demo.privacy import PRIVATE, opt_out_step
from threadline.connector.demo.related import seed_hubspot_deals, seed_salesforce_deals, show_related
from threadline.connector.demo.sequence import (
    EXAMPLES,
    SequenceDemo,
    demo_sequences,
    seed_prospect,
    with_sequences,
)
from threadline.connector.demo.team import TeamDemo
from threadline.connector.demo.world import CONTACTS, INTERNAL_DOMAIN, REP, late_reply, outreach_and_replies
from threadline.connector.monitoring.logs import configure_logging
from threadline.connector.reports.render import print_sync_summary
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.banner import sandbox_banner
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.engine import SyncEngine

OLGA = "olga@hooli.example"           # her late reply is logged, then labelled Private (privacy.py)
EXPECTED_LOGGED = {"jane.doe@acme-corp.example", "carlos@globex.example", "petra.schmidt@initech.example", OLGA}
# In Salesforce Petra's second address is a Lead of its own, so her reply lands there.
EXPECTED_LOGGED_SALESFORCE = EXPECTED_LOGGED - {"petra.schmidt@initech.example"} | {"p.schmidt@initech-group.example"}
CRMS = ("hubspot", "salesforce")
MAILBOXES = ("gmail", "outlook")
# The sandbox serves no IMAP: a sandbox config's IMAP mailbox reads its server and login from the environment.
IMAP_FROM_ENVIRONMENT = {"host": "${IMAP_HOST}", "port": "${IMAP_PORT:-993}", "security": "${IMAP_SECURITY:-tls}",
                         "username": "${IMAP_USERNAME}", "password": "${IMAP_PASSWORD}"}


def seed_demo(server: SandboxServer, crm: str = "hubspot", mailbox: str = "gmail",
              gmail_refresh_token: str | None = None) -> dict[str, str]:
    """Load the demo's contacts, owner and mail into a running sandbox; returns credentials for the config.
    `gmail_refresh_token`: the token to issue for the rep's Gmail (default: a new random one)."""
    seeded = _seed_salesforce(server) if crm == "salesforce" else _seed_hubspot(server)
    if mailbox == "outlook":
        server.graph.register_user(REP)
    for raw, labels in outreach_and_replies():
        if mailbox == "outlook":    # Graph files a message in one folder; the Gmail labels say which
            server.graph.deliver(REP, raw, "sentitems" if "SENT" in labels else "inbox")
        else:
            server.gmail.deliver(REP, raw, labels)
    if mailbox == "gmail":
        seeded["refresh_token"] = server.gmail.oauth.issue_refresh_token(REP, token=gmail_refresh_token)
    return seeded


def seed_every_provider(server: SandboxServer, gmail_refresh_token: str | None = None) -> dict[str, str]:
    """`threadline sandbox --seed`: the demo team in every provider at once. HubSpot and Salesforce hold the
    contacts and the rep as owner/user (Salesforce with Threadline's fields created, as `check` asks); the rep's
    Gmail and Outlook (Graph) mailboxes hold the same outreach and replies. Returns what a config needs."""
    hubspot = _seed_hubspot(server)
    salesforce = _seed_salesforce(server)
    server.graph.register_user(REP)
    for raw, labels in outreach_and_replies():
        server.gmail.deliver(REP, raw, labels)
        server.graph.deliver(REP, raw, "sentitems" if "SENT" in labels else "inbox")
    # The org's own refresh token (the banner prints it) rather than the one seeding issued: it is the same on
    # every start, as the rep's ids are.
    return {"hubspot_owner_id": hubspot["owner_id"], "salesforce_owner_id": salesforce["owner_id"],
            "sf_refresh_token": server.settings.salesforce_refresh_token, "mailbox": REP,
            "refresh_token": server.gmail.oauth.issue_refresh_token(REP, token=gmail_refresh_token)}


def seeded_by_sandbox_command(crm: str, gmail_refresh_token: str) -> dict[str, str]:
    """What a running `threadline sandbox --seed` (which issued `gmail_refresh_token`) gives a config for `crm`,
    known without reaching it: the rep's owner id in that CRM (`owner_id`) and the fixed tokens (`refresh_token`
    for Gmail, `sf_refresh_token`). Seeding is deterministic: a never-started sandbox seeded the same way holds
    the same ids."""
    seeded = seed_every_provider(SandboxServer(), gmail_refresh_token=gmail_refresh_token)
    return {**seeded, "owner_id": seeded[f"{crm}_owner_id"]}


def _seed_hubspot(server: SandboxServer) -> dict[str, str]:
    owner_id = server.hubspot.add_owner(REP, first_name="Alex", last_name="Morgan")
    ids = [server.hubspot.add_contact(c.email, additional_emails=c.additional, firstname=c.first, lastname=c.last,
                                      company=c.company) for c in CONTACTS]
    seed_hubspot_deals(server, ids[0])
    return {"owner_id": owner_id}


def _seed_salesforce(server: SandboxServer) -> dict[str, str]:
    org = server.salesforce
    for wanted in SalesforceNames().wanted():     # the admin created Threadline's fields, as `check` asks
        org.add_custom_field(wanted.object_name, wanted.api_name, wanted.api_types[0],
                             external_id=wanted.external_id, unique=wanted.unique)
    owner_id = org.add_user(REP, first_name="Alex", last_name="Morgan", email=REP)
    ids = []
    for c in CONTACTS:
        ids.append(org.add_contact(c.email, first_name=c.first, last_name=c.last))
        for other in c.additional:                # a second address is a Lead in Salesforce's model
            org.add_lead(other, first_name=c.first, last_name=c.last, company=c.company)
    seed_salesforce_deals(server, ids[0])
    settings = server.settings
    return {"owner_id": owner_id, "sf_refresh_token": org.issue_refresh_token(settings.salesforce_consumer_key, settings.salesforce_username)}


def demo_config(server: SandboxServer, store_url: str, seeded: dict[str, str], crm: str = "hubspot",
                mailbox: str = "gmail") -> dict[str, Any]:
    """The threadline.yaml the demo runs with, pointing every provider at the sandbox."""
    ca = str(server.tls.ca_cert) if server.tls else None
    return sandbox_config(server.url, server.settings, seeded, crm, mailbox, ca_file=ca, store_url=store_url)


def sandbox_config(url: str, settings: SandboxSettings, seeded: dict[str, str], crm: str = "hubspot",
                   mailbox: str = "gmail", *, ca_file: str | None = None,
                   store_url: str = "sqlite:///threadline.db") -> dict[str, Any]:
    """A threadline.yaml (as a dict) for `crm` and `mailbox` on the sandbox at `url`, with the credentials it
    accepts. `seeded` gives the rep's `owner_id` and the tokens seeding issued (`refresh_token` for Gmail,
    `sf_refresh_token` for Salesforce); `ca_file` is the CA of a sandbox serving https. An `imap` mailbox reads
    its server from the environment (IMAP_FROM_ENVIRONMENT): the sandbox serves none."""
    return {"store": {"url": store_url}, "crm": _sandbox_crm(url, settings, seeded, crm, ca_file),
            "mailboxes": [_sandbox_mailbox(url, settings, seeded, mailbox, ca_file)],
            "sync": {"internal_domains": [INTERNAL_DOMAIN], "backfill_days": 30}}


def _sandbox_crm(url: str, s: SandboxSettings, seeded: dict[str, str], crm: str, ca: str | None) -> dict[str, Any]:
    if crm == "salesforce":
        return {"kind": "salesforce", "login_url": url, "consumer_key": s.salesforce_consumer_key,
                "client_secret": s.salesforce_consumer_secret, "refresh_token": seeded["sf_refresh_token"],
                "ca_file": ca}
    return {"kind": "hubspot", "base_url": url, "token": s.hubspot_token, "search_index_lag": "0s", "ca_file": ca}


def _sandbox_mailbox(url: str, s: SandboxSettings, seeded: dict[str, str], mailbox: str,
                     ca: str | None) -> dict[str, Any]:
    rep = {"address": REP, "owner_id": seeded["owner_id"]}
    if mailbox == "imap":
        return {"kind": "imap", **rep, **IMAP_FROM_ENVIRONMENT}
    if mailbox == "outlook":
        return {"kind": "outlook", **rep, "tenant": s.graph_tenant_id, "client_id": s.graph_client_id,
                "client_secret": s.graph_client_secret, "authority_host": url, "base_url": f"{url}/v1.0",
                "ca_file": ca}
    return {"kind": "gmail", **rep, "base_url": url, "token_uri": f"{url}/token", "client_id": s.google_client_id,
            "client_secret": s.google_client_secret, "refresh_token": seeded["refresh_token"], "ca_file": ca}


def run_demo(console: Console, store_url: str | None = None, crm: str = "hubspot", mailbox: str = "gmail") -> int:
    """Run the demo; returns the exit code (0 when every expected reply landed exactly once and the sequence
    ran end to end)."""
    configure_logging(level="WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="threadline-demo-"))
    # MSAL and oauthlib (the team's connect link) insist on https: serve the sandbox over TLS with a throwaway CA.
    with SandboxServer(tls_dir=workdir / "tls" if mailbox != "imap" else None) as server:
        return demo_on(console, server, workdir, store_url or f"sqlite:///{workdir / 'threadline.db'}", crm, mailbox)


def demo_on(console: Console, server: SandboxServer, workdir: Path, store_url: str, crm: str = "hubspot",
            mailbox: str = "gmail") -> int:
    """The demo against a running (empty) sandbox: seed, sync twice, show what landed, then the sequence, the A/B
    month and the team."""
    console.rule(f"[bold]Threadline demo: {crm} + {mailbox}")
    console.print(f"sandbox (simulated {crm} and {mailbox}) at {server.url}; store {store_url}")
    seeded = seed_demo(server, crm, mailbox)
    prospect_id = seed_prospect(server, crm, seeded["owner_id"])
    console.print(f"seeded {len(CONTACTS) + 1} {crm} contacts and a {mailbox} mailbox for {REP}")
    config = demo_config(server, store_url, seeded, crm, mailbox)
    config["sync"]["never_labelled"] = [PRIVATE]        # the opt-out part (privacy.py)
    sequences = demo_sequences()
    settings = parse_settings(with_sequences(config, sequences) if sequences else config, Path("(demo)"), env={})
    clock = DemoClock()         # the wall clock, until the A/B month moves it
    engine = build_engine(settings, clock=clock)
    try:
        _cycle(console, engine, "first sync: backfill")
        late = (server.graph if mailbox == "outlook" else server.gmail).deliver(REP, late_reply())
        console.print("\na new reply arrives from Olga Ivanova...")
        _cycle(console, engine, "second sync: incremental")
        landed = _landed(server, crm)
        _show(console, crm, landed)
        replies_ok = _replies_landed_once(console, crm, landed)
        replies_ok = show_related(console, server, crm) and replies_ok
        replies_ok = opt_out_step(console, server, engine, mailbox, late, OLGA,
                                  lambda: len(_landed(server, crm).get(OLGA, [])),
                                  lambda title: _cycle(console, engine, title)) and replies_ok
        sequence_ok = True
        if sequences is None:
            console.print(f"[yellow]{EXAMPLES} not found: the sequence part of the demo needs the source tree[/]")
        else:
            demo = SequenceDemo(console, server, engine, settings, crm, mailbox, prospect_id)
            sequence_ok = demo.run(lambda title: _cycle(console, engine, title), workdir / "sequence-report.html")
            sequence_ok = _ab_month(console, server, engine, settings, clock, crm, mailbox, seeded["owner_id"]) \
                and sequence_ok
    finally:
        engine.close()
    return 0 if replies_ok and sequence_ok and _team(console, server, config, workdir, crm, mailbox) else 1


def _ab_month(console: Console, server: SandboxServer, engine: SyncEngine, settings: Settings, clock: DemoClock,
              crm: str, mailbox: str, owner_id: str) -> bool:
    """The A/B month (connector/demo/ab_month.py); its prospects answer into the sandbox's Gmail or Outlook."""
    if mailbox == "imap":
        console.print("[dim]A/B month skipped: the prospects' answers go through the sandbox's Gmail or Outlook[/]")
        return True
    return ABMonth(console, server, engine, settings, clock, crm, mailbox, owner_id).run(
        lambda title: _cycle(console, engine, title))


def _team(console: Console, server: SandboxServer, config: dict[str, Any], workdir: Path, crm: str,
          mailbox: str) -> bool:
    """The team part (connector/demo/team.py); Google's and Microsoft's OAuth clients insist on https."""
    if mailbox == "imap":
        console.print("[dim]team part skipped: IMAP has no organisation-wide access or connect link[/]")
        return True
    if server.tls is None:
        console.print("[yellow]team part skipped: it needs the sandbox over https (OAuth clients refuse http)[/]")
        return True
    return TeamDemo(console, server, config, workdir, crm, mailbox).run()


def _replies_landed_once(console: Console, crm: str, landed: Landed) -> bool:
    counts = {address: len(items) for address, items in landed.items() if items}
    expected = EXPECTED_LOGGED_SALESFORCE if crm == "salesforce" else EXPECTED_LOGGED
    ok = set(counts) == expected and all(n == 1 for n in counts.values())
    console.print("[green]every reply landed once[/]" if ok else f"[red]unexpected result[/] {counts}")
    return ok


def _cycle(console: Console, engine: SyncEngine, title: str) -> None:
    console.rule(title)
    with console.status(title) as status:
        summary = engine.run_once(lambda message: status.update(message))
    print_sync_summary(console, summary)


Landed = dict[str, list[tuple[str, str]]]    # contact address -> [(subject, logged text)]


def _show(console: Console, crm: str, landed: Landed) -> None:
    table = Table(title=f"On the {crm} contact records now")
    for column in ("contact", "activities", "subject", "reply context (as logged)"):
        table.add_column(column, overflow="fold")
    for address, items in landed.items():
        for subject, text in items or [("", "[dim]nothing logged[/]")]:
            table.add_row(address, str(len(items)), subject, text)
    console.print(table)


def _landed(server: SandboxServer, crm: str) -> Landed:
    return _landed_salesforce(server) if crm == "salesforce" else _landed_hubspot(server)


def _landed_hubspot(server: SandboxServer) -> Landed:
    """Read back through the sandbox's HubSpot API what is on each contact now."""
    headers = {"Authorization": f"Bearer {server.settings.hubspot_token}"}
    verify = str(server.tls.ca_cert) if server.tls else True
    landed: Landed = {}
    with httpx.Client(base_url=server.url, headers=headers, verify=verify) as http:
        contacts = http.get("/crm/v3/objects/contacts", params={"limit": 100, "properties": "email"}).json()["results"]
        for contact in contacts:
            emails = _emails_of(http, contact["id"])
            landed[contact["properties"]["email"]] = [(e.get("hs_email_subject", ""), e.get("hs_email_text", ""))
                                                      for e in emails]
    return landed


def _landed_salesforce(server: SandboxServer) -> Landed:
    """Tasks on each Contact and Lead, from the Salesforce simulator's records."""
    org = server.salesforce
    landed: Landed = {}
    for obj in ("Contact", "Lead"):
        for row in org.org.rows(obj):
            tasks = org.tasks_for(row["Id"])
            landed.setdefault(row["Email"], []).extend((t["Subject"], t["Description"]) for t in tasks)
    return landed


def _emails_of(http: httpx.Client, contact_id: str) -> list[dict[str, Any]]:
    links = http.get(f"/crm/v4/objects/contacts/{contact_id}/associations/emails").json().get("results", [])
    if not links:
        return []
    body = {"inputs": [{"id": str(link["toObjectId"])} for link in links],
            "properties": ["hs_email_direction", "hs_email_subject", "hs_email_text"]}
    return [r["properties"] for r in http.post("/crm/v3/objects/emails/batch/read", json=body).json()["results"]]


def print_sandbox_credentials(console: Console, server: SandboxServer, seeded: dict[str, str] | None = None) -> None:
    """The sandbox's start banner: every provider, its paths and credentials, and the CA under --tls-dir;
    with `seeded` (from seed_every_provider), what was seeded and the ids a config needs."""
    seeded = seeded or {}
    lines = sandbox_banner(server.url, server.settings, ca_file=server.tls.ca_cert if server.tls else None,
                           gmail_refresh_token=seeded.get("refresh_token"),
                           gmail_user=REP if seeded.get("refresh_token") else None)
    if seeded:      # before the last line ("Sandbox controls"), which ends the banner
        lines.insert(len(lines) - 1, f"Seeded: {len(CONTACTS)} contacts in HubSpot and Salesforce; the rep {REP} is HubSpot owner "
                     f"{seeded['hubspot_owner_id']} and Salesforce user {seeded['salesforce_owner_id']} (owner_id); "
                     f"{REP}'s Gmail and Outlook mailboxes hold the outreach and replies; Salesforce has "
                     "Threadline's fields")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
