"""Connect a whole team from the CRM's owners (issue #17, part 1): one `mailbox_sources` entry gives every
owner in the domain a mailbox with `owner_id` set, through the real engine, the HubSpot and Gmail sandboxes.

Owners added, archived and restored between pulls; an explicit entry wins; a mailbox the provider cannot open
fails alone with its reason; `threadline mailboxes --json` shows where each came from and its state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import select

from tests.engine.world import reply
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import CursorRow, FoundMailboxRow

DOMAIN = "northwind.example"


def owner(sandbox: SandboxServer, name: str, *, archived: bool = False) -> str:
    return sandbox.hubspot.add_owner(f"{name}@{DOMAIN}", first_name=name.title(), archived=archived)


def set_archived(sandbox: SandboxServer, owner_id: str, archived: bool) -> None:
    for entry in sandbox.hubspot.crm.owners:
        if entry["id"] == owner_id:
            entry["archived"] = archived


def team_config(sandbox: SandboxServer, tmp_path: Path, **source: Any) -> dict[str, Any]:
    account = tmp_path / "gmail-sa.json"
    account.write_text(json.dumps(sandbox.gmail.register_service_account(sandbox.url)))
    return {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
            "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                    "search_index_lag": "0s"},
            "mailboxes": [],
            "mailbox_sources": [{"kind": "gmail", "from": "crm_owners", "domains": [DOMAIN],
                                 "service_account_file": str(account), "base_url": sandbox.url,
                                 "token_uri": f"{sandbox.url}/token", **source}],
            "sync": {"internal_domains": [DOMAIN], "backfill_days": 30}}


def logged(sandbox: SandboxServer, contact: str) -> list[str]:
    return sorted(e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(contact))


def test_every_owner_in_the_domain_gets_a_mailbox_that_stops_and_resumes_with_the_owner(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    ann, ben = owner(sandbox, "ann"), owner(sandbox, "ben")
    owner(sandbox, "cat", archived=True)                     # a deactivated user: no mailbox
    owner(sandbox, "ceo")                                    # excluded by the admin
    sandbox.hubspot.add_owner("dan@partner.example")         # outside the domain
    buyer = sandbox.hubspot.add_contact("buyer@customer.example", firstname="Pat")
    sandbox.gmail.deliver(f"ann@{DOMAIN}", reply("buyer@customer.example", f"ann@{DOMAIN}", 1), ["INBOX"])
    sandbox.gmail.deliver(f"ben@{DOMAIN}", reply("buyer@customer.example", f"ben@{DOMAIN}", 2), ["INBOX"])
    settings = parse_settings(team_config(sandbox, tmp_path, exclude=[f"ceo@{DOMAIN}"]), tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    try:
        engine.run_once()
        engine.run_once()
        assert sorted(b.adapter.address for b in engine.mailboxes) == [f"ann@{DOMAIN}", f"ben@{DOMAIN}"]
        assert {b.adapter.address: b.owner_id for b in engine.mailboxes} == {f"ann@{DOMAIN}": ann,
                                                                              f"ben@{DOMAIN}": ben}
        assert logged(sandbox, buyer) == ["Re: Proposal 1", "Re: Proposal 2"]

        set_archived(sandbox, ann, True)                     # Ann leaves: her mailbox stops, its cursor stays
        engine.run_once()
        assert [b.adapter.address for b in engine.mailboxes] == [f"ben@{DOMAIN}"]
        with engine.store.session() as session:
            row = session.get(FoundMailboxRow, f"ann@{DOMAIN}")
            assert row is not None and not row.active and "archived or deactivated" in row.reason
            assert session.get(CursorRow, f"mailbox:ann@{DOMAIN}") is not None
        sandbox.gmail.deliver(f"ann@{DOMAIN}", reply("buyer@customer.example", f"ann@{DOMAIN}", 3), ["INBOX"])
        engine.run_once()
        assert logged(sandbox, buyer) == ["Re: Proposal 1", "Re: Proposal 2"]     # not read while stopped

        set_archived(sandbox, ann, False)                    # back: resumes from the cursor, nothing twice
        engine.run_once()
        engine.run_once()
        assert logged(sandbox, buyer) == ["Re: Proposal 1", "Re: Proposal 2", "Re: Proposal 3"]

        eve = owner(sandbox, "eve")                          # a new owner syncs from the next pull
        engine.run_once()
        assert {b.adapter.address: b.owner_id for b in engine.mailboxes}[f"eve@{DOMAIN}"] == eve
    finally:
        engine.close()


def test_an_explicit_entry_wins_and_mailboxes_lists_where_each_came_from(sandbox: SandboxServer,
                                                                        tmp_path: Path) -> None:
    ann = owner(sandbox, "ann")
    owner(sandbox, "ben")
    buyer = sandbox.hubspot.add_contact("buyer@customer.example", firstname="Pat")
    sandbox.gmail.deliver(f"ann@{DOMAIN}", reply("buyer@customer.example", f"ann@{DOMAIN}", 1), ["INBOX"])
    config = team_config(sandbox, tmp_path)
    first = build_engine(parse_settings(config, tmp_path / "first.yaml", env={}))   # Ann is found first...
    try:
        first.run_once()
    finally:
        first.close()
    s = sandbox.settings
    # ... then the admin writes her entry: it wins over her found row, already in the store.
    config["mailboxes"] = [{"kind": "gmail", "address": f"ann@{DOMAIN}", "owner_id": ann, "base_url": sandbox.url,
                            "token_uri": f"{sandbox.url}/token", "client_id": s.google_client_id,
                            "client_secret": s.google_client_secret,
                            "refresh_token": sandbox.gmail.oauth.issue_refresh_token(f"ann@{DOMAIN}"),
                            "display_name": "Ann (explicit)"}]
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = parse_settings(config, path, env={})
    engine = build_engine(settings)
    explicit = next(b for b in engine.mailboxes if b.adapter.address == f"ann@{DOMAIN}")
    try:
        engine.run_once()
        engine.run_once()
        assert logged(sandbox, buyer) == ["Re: Proposal 1"]                  # from her cursor: nothing twice
        assert [b for b in engine.mailboxes if b.adapter.address == f"ann@{DOMAIN}"] == [explicit]
    finally:
        engine.close()
    listed = subprocess.run([sys.executable, "-m", "threadline", "mailboxes", "--json", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    lines = {line["address"]: line for line in json.loads(listed.stdout)}
    assert (lines[f"ann@{DOMAIN}"]["source"], lines[f"ann@{DOMAIN}"]["state"]) == ("config", "syncing")
    ben = lines[f"ben@{DOMAIN}"]
    assert (ben["source"], ben["state"]) == ("crm_owners", "syncing") and ben["owner_id"]
    assert {"address", "source", "owner_id", "state"} <= set(ben)


def test_salesforce_users_get_outlook_mailboxes_through_an_app_registration(tls_sandbox: SandboxServer,
                                                                           tmp_path: Path) -> None:
    """The other CRM and the other mailbox kind: Salesforce's active Users, Microsoft Graph app-only."""
    from threadline.connector.demo.run import demo_config, seed_demo

    sandbox = tls_sandbox
    seeded = seed_demo(sandbox, crm="salesforce", mailbox="outlook")
    org = sandbox.salesforce
    ann = org.add_user(f"ann@{DOMAIN}", first_name="Ann", email=f"ann@{DOMAIN}")
    org.add_user(f"cat@{DOMAIN}", first_name="Cat", email=f"cat@{DOMAIN}", active=False)
    zed = org.add_user(f"zed@{DOMAIN}", first_name="Zed", email=f"zed@{DOMAIN}")   # no mailbox in the tenant
    for user in (f"ann@{DOMAIN}", f"cat@{DOMAIN}"):
        sandbox.graph.register_user(user)
    buyer = org.add_contact("buyer@customer.example", first_name="Pat", last_name="Buyer")
    sandbox.graph.deliver(f"ann@{DOMAIN}", reply("buyer@customer.example", f"ann@{DOMAIN}", 7), "inbox")
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce", mailbox="outlook")
    template = config["mailboxes"].pop()                     # the demo's Outlook entry: its app registration
    config["mailbox_sources"] = [{"kind": "outlook", "domains": [DOMAIN], **{
        k: template[k] for k in ("tenant", "client_id", "client_secret", "authority_host", "base_url", "ca_file")}}]
    config["sync"]["internal_domains"] = [DOMAIN]
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    try:
        engine.run_once()
        engine.run_once()
        # Alex (the demo's rep, an active User in the domain) is found too; Cat is inactive. Zed's mailbox is
        # unknown to Graph: it fails alone, and the others sync.
        assert {b.adapter.address: b.owner_id for b in engine.mailboxes} == {
            f"ann@{DOMAIN}": ann, f"alex@{DOMAIN}": seeded["owner_id"], f"zed@{DOMAIN}": zed}
        subjects = [t.get("Subject") for t in org.tasks_for(buyer)]
        assert "Re: Proposal 7" in " ".join(str(s) for s in subjects), subjects
        with engine.store.session() as session:
            assert sorted(r.address for r in session.exec(select(FoundMailboxRow)).all()) == [
                f"alex@{DOMAIN}", f"ann@{DOMAIN}", f"zed@{DOMAIN}"]
    finally:
        engine.close()
    from threadline.connector.monitoring.team_mailboxes import mailbox_lines

    lines = {line.address: line for line in mailbox_lines(settings)}
    assert lines[f"ann@{DOMAIN}"].state == "syncing" and lines[f"zed@{DOMAIN}"].state == "failing"
    assert "ErrorInvalidUser" in lines[f"zed@{DOMAIN}"].detail, lines[f"zed@{DOMAIN}"].detail
