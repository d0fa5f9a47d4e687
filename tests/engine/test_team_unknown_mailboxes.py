"""A mailbox the provider does not know or will not open (issue #17): it is shown with that reason, retried at
every poll, and it never stops the others. Through the real engine and CLI, the CRM sandboxes and the mail
providers' real answers over HTTP:

* Gmail, service account with domain-wide delegation: Google's token endpoint refuses one subject
  (401 `unauthorized_client`: the client id is not authorised for that user's Workspace) and does not know
  another (400 `invalid_grant` "Invalid email or User ID");
* Outlook, app-only Graph: a directory user with no Exchange Online mailbox (404 `MailboxNotEnabledForRESTAPI`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.engine.test_team_discovery import DOMAIN, logged, owner, team_config
from tests.engine.world import reply
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer


def cli(path: Path, *command: str) -> Any:
    """`threadline COMMAND --json -c path` in its own process, as an admin runs it: its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "threadline", *command, "--json", "-c", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(path: Path) -> dict[str, dict[str, Any]]:
    return {line["address"]: line for line in cli(path, "mailboxes")}


def last_error(path: Path, address: str) -> str:
    """The newest error `threadline status --json` shows for the mailbox."""
    errors = [e for e in cli(path, "status")["recent_errors"] if e["source"] == f"mailbox:{address}"]
    assert errors, f"no error recorded for {address}"
    return str(max(errors, key=lambda e: e["at"])["message"])


def test_gmail_delegation_refused_or_unknown_user_is_shown_and_the_others_sync(sandbox: SandboxServer,
                                                                               tmp_path: Path) -> None:
    ann, bob, cat = f"ann@{DOMAIN}", f"bob@{DOMAIN}", f"cat@{DOMAIN}"
    for name in ("ann", "bob", "cat"):
        owner(sandbox, name)
    sandbox.gmail.oauth.refuse_delegation(bob)        # Bob's Workspace has not authorised the client id
    sandbox.gmail.oauth.remove_user(cat)              # Cat is a CRM owner but no user of the Workspace
    buyer = sandbox.hubspot.add_contact("buyer@customer.example", firstname="Pat")
    for n, rep in enumerate((ann, bob, cat), start=1):
        sandbox.gmail.deliver(rep, reply("buyer@customer.example", rep, n), ["INBOX"])
    config = team_config(sandbox, tmp_path)
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    engine = build_engine(parse_settings(config, path, env={}))
    try:
        engine.run_once()
        engine.run_once()
        assert sorted(b.adapter.address for b in engine.mailboxes) == [ann, bob, cat]
        assert logged(sandbox, buyer) == ["Re: Proposal 1"]          # Ann's reply: the others did not stop it

        lines = listed(path)
        assert (lines[ann]["source"], lines[ann]["state"]) == ("crm_owners", "syncing")
        # Bob: refused credentials for this mailbox; the admin must act (reauthorize), named by address.
        assert lines[bob]["state"] == "reauthorize" and bob in lines[bob]["detail"]
        refused = last_error(path, bob)
        assert "unauthorized_client" in refused and "domain-wide delegation" in refused
        assert "client id" in refused and "Google Admin console" in refused
        # Cat: failing with Google's reason and what to do, retried at the next poll.
        assert lines[cat]["state"] == "failing"
        assert "Invalid email or User ID" in lines[cat]["detail"]
        assert "not a user of the Google Workspace" in lines[cat]["detail"]
        assert "retried at the next poll" in lines[cat]["detail"]

        sandbox.gmail.oauth.allow_delegation(bob)      # the admin authorised the client id for Bob's Workspace
        engine.run_once()
        engine.run_once()
        assert logged(sandbox, buyer) == ["Re: Proposal 1", "Re: Proposal 2"]
        lines = listed(path)
        assert lines[bob]["state"] == "syncing" and lines[ann]["state"] == "syncing"
        assert lines[cat]["state"] == "failing"        # still unknown to Google, still retried, still alone
    finally:
        engine.close()


def test_an_outlook_user_without_exchange_online_is_shown_and_the_others_sync(tls_sandbox: SandboxServer,
                                                                              tmp_path: Path) -> None:
    from threadline.connector.demo.run import demo_config, seed_demo

    sandbox = tls_sandbox
    seeded = seed_demo(sandbox, crm="salesforce", mailbox="outlook")
    org = sandbox.salesforce
    ann, zoe = f"ann@{DOMAIN}", f"zoe@{DOMAIN}"
    org.add_user(ann, first_name="Ann", email=ann)
    org.add_user(zoe, first_name="Zoe", email=zoe)
    sandbox.graph.register_user(ann)
    sandbox.graph.add_user_without_mailbox(zoe)      # in the directory, no Exchange Online licence
    buyer = org.add_contact("buyer@customer.example", first_name="Pat", last_name="Buyer")
    sandbox.graph.deliver(ann, reply("buyer@customer.example", ann, 7), "inbox")
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce", mailbox="outlook")
    template = config["mailboxes"].pop()             # the demo's Outlook entry: its app registration
    config["mailbox_sources"] = [{"kind": "outlook", "domains": [DOMAIN], **{
        k: template[k] for k in ("tenant", "client_id", "client_secret", "authority_host", "base_url", "ca_file")}}]
    config["sync"]["internal_domains"] = [DOMAIN]
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    engine = build_engine(parse_settings(config, path, env={}))

    def subjects() -> str:
        return " ".join(str(task.get("Subject")) for task in org.tasks_for(buyer))

    try:
        engine.run_once()
        engine.run_once()
        assert zoe in {b.adapter.address for b in engine.mailboxes}
        assert "Re: Proposal 7" in subjects()           # Ann's reply is logged despite Zoe
        lines = listed(path)
        assert lines[ann]["state"] == "syncing"
        assert lines[zoe]["state"] == "failing" and lines[zoe]["source"] == "crm_owners"
        detail = lines[zoe]["detail"]
        assert "MailboxNotEnabledForRESTAPI" in detail and "404" in detail
        assert f"mailbox {zoe} has no Exchange Online mailbox" in detail
        assert "Exchange Online licence" in detail and "retried at the next poll" in detail

        sandbox.graph.enable_mailbox(zoe)                # an admin assigned a licence: the next polls sync it
        sandbox.graph.deliver(zoe, reply("buyer@customer.example", zoe, 8), "inbox")
        engine.run_once()
        engine.run_once()
        assert "Re: Proposal 8" in subjects()
        assert listed(path)[zoe]["state"] == "syncing"
    finally:
        engine.close()
