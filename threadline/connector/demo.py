"""`threadline demo`: the whole loop on embedded defaults (SQLite + the sandbox), no account needed.

It starts the sandbox, seeds HubSpot contacts and a rep's Gmail mailbox, runs a sync, delivers one more reply,
syncs again (incrementally), and shows what landed on which contact in the CRM and why the rest was skipped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from threadline.config.loading import parse_settings
from threadline.connector.demo_mail import CONTACTS, INTERNAL_DOMAIN, REP, late_reply, outreach_and_replies
from threadline.connector.logs import configure_logging
from threadline.connector.render import print_sync_summary
from threadline.connector.wiring import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

EXPECTED_LOGGED = {"jane.doe@acme-corp.example", "carlos@globex.example", "petra.schmidt@initech.example",
                   "olga@hooli.example"}


def seed_demo(server: SandboxServer) -> dict[str, str]:
    """Load the demo's contacts, owner and mail into a running sandbox; returns the rep's Gmail credentials."""
    owner_id = server.hubspot.add_owner(REP, first_name="Alex", last_name="Morgan")
    for c in CONTACTS:
        server.hubspot.add_contact(c.email, additional_emails=c.additional, firstname=c.first, lastname=c.last,
                                   company=c.company)
    for raw, labels in outreach_and_replies():
        server.gmail.deliver(REP, raw, labels)
    return {"owner_id": owner_id, "refresh_token": server.gmail.oauth.issue_refresh_token(REP)}


def demo_config(server: SandboxServer, store_url: str, refresh_token: str, owner_id: str) -> dict[str, Any]:
    settings = server.settings
    return {
        "store": {"url": store_url},
        "crm": {"kind": "hubspot", "base_url": server.url, "token": settings.hubspot_token, "search_index_lag": "0s"},
        "mailboxes": [{"kind": "gmail", "address": REP, "owner_id": owner_id, "base_url": server.url,
                       "token_uri": f"{server.url}/token", "client_id": settings.google_client_id,
                       "client_secret": settings.google_client_secret, "refresh_token": refresh_token}],
        "sync": {"internal_domains": [INTERNAL_DOMAIN], "backfill_days": 30},
    }


def run_demo(console: Console, store_url: str | None = None) -> int:
    """Run the demo; returns the exit code (0 when every expected reply landed exactly once)."""
    configure_logging(level="WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="threadline-demo-"))
    store_url = store_url or f"sqlite:///{workdir / 'threadline.db'}"
    with SandboxServer() as server:
        console.rule("[bold]Threadline demo")
        console.print(f"sandbox (HubSpot + Gmail simulators) at {server.url}; store {store_url}")
        seeded = seed_demo(server)
        console.print(f"seeded {len(CONTACTS)} HubSpot contacts and {len(server.gmail.messages(REP))} messages "
                      f"in {REP}'s Gmail mailbox")
        settings = parse_settings(demo_config(server, store_url, seeded["refresh_token"], seeded["owner_id"]),
                                  Path("(demo)"), env={})
        engine = build_engine(settings)
        try:
            _cycle(console, engine, "first sync: backfill")
            server.gmail.deliver(REP, late_reply())
            console.print("\na new reply arrives from Olga Ivanova...")
            _cycle(console, engine, "second sync: incremental (Gmail history)")
        finally:
            engine.close()
        landed = _show_crm(console, server)
    ok = set(landed) == EXPECTED_LOGGED and all(n == 1 for n in landed.values())
    console.print("[green]every reply landed once[/]" if ok else f"[red]unexpected result[/] {landed}")
    return 0 if ok else 1


def _cycle(console: Console, engine: SyncEngine, title: str) -> None:
    console.rule(title)
    with console.status(title) as status:
        summary = engine.run_once(lambda message: status.update(message))
    print_sync_summary(console, summary)


def _show_crm(console: Console, server: SandboxServer) -> dict[str, int]:
    """Read back through the sandbox's HubSpot API what is on each contact now."""
    headers = {"Authorization": f"Bearer {server.settings.hubspot_token}"}
    table = Table(title="On the HubSpot contact records now")
    for column in ("contact", "replies", "direction", "subject", "reply context (as logged)"):
        table.add_column(column, overflow="fold")
    landed: dict[str, int] = {}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        contacts = http.get("/crm/v3/objects/contacts", params={
            "limit": 100, "properties": "email,threadline_reply_count"}).json()["results"]
        for contact in contacts:
            emails = _emails_of(http, contact["id"])
            address = contact["properties"]["email"]
            if emails:
                landed[address] = len(emails)
            for props in emails or [{}]:
                table.add_row(address, contact["properties"].get("threadline_reply_count") or "0",
                              props.get("hs_email_direction", ""), props.get("hs_email_subject", ""),
                              props.get("hs_email_text", "[dim]nothing logged[/]"))
    console.print(table)
    return landed


def _emails_of(http: httpx.Client, contact_id: str) -> list[dict[str, Any]]:
    links = http.get(f"/crm/v4/objects/contacts/{contact_id}/associations/emails").json().get("results", [])
    if not links:
        return []
    body = {"inputs": [{"id": str(link["toObjectId"])} for link in links],
            "properties": ["hs_email_direction", "hs_email_subject", "hs_email_text"]}
    return [r["properties"] for r in http.post("/crm/v3/objects/emails/batch/read", json=body).json()["results"]]


def print_sandbox_credentials(console: Console, server: SandboxServer, refresh_token: str | None = None) -> None:
    s = server.settings
    console.print(f"Threadline sandbox on {server.url} (HubSpot /crm/v3, /crm/v4, /oauth/v1/token; Gmail /gmail/v1, "
                  f"/batch/gmail/v1, /upload/gmail/v1, /token)")
    console.print(f"  HubSpot private-app token: {s.hubspot_token}")
    console.print(f"  Google OAuth client: id {s.google_client_id}, secret {s.google_client_secret}")
    owner = REP if refresh_token else "rep@example.com"
    console.print(f"  Google refresh token (opens {owner}): {refresh_token or s.google_refresh_token}")
    console.print("  faults: POST /_sandbox/faults, stats: GET /_sandbox/stats, reset: POST /_sandbox/reset")
