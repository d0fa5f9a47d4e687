"""A refused credential or permission says which token, where to make a new one and which scopes to grant,
on every provider, in `threadline check` (exit 1), and never prints the secret it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_check_rule_fields import check, flat
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

WRONG = "wrong-secret-0123456789"


@pytest.mark.parametrize(("crm", "mailbox", "key", "expected"), [
    ("hubspot", "gmail", ("crm", "token"),
     "hubspot refused the private-app token (crm.token): it is wrong, expired or revoked; make a new one: HubSpot > "
     "Settings > Integrations > Private apps > the app > Auth > Rotate, or create a private app"),
    ("hubspot", "gmail", ("mailbox", "refresh_token"),
     "gmail refused the mailbox's refresh_token (with client_id and client_secret) or its service_account_file: it "
     "is wrong, expired or revoked; make a new one: `threadline auth gmail ADDRESS`"),
    ("salesforce", "outlook", ("crm", "refresh_token"),
     "salesforce refused the connected-app sign-in (crm.refresh_token with crm.client_secret, or crm.username with "
     "crm.private_key_file for JWT): it is wrong, expired or revoked; make a new one: a new refresh token from the "
     "OAuth web-server flow"),
    ("salesforce", "outlook", ("mailbox", "client_secret"),
     "outlook refused the app registration's client_secret (or the rep's delegated sign-in): it is wrong, expired or "
     "revoked; make a new one: Microsoft Entra admin center > App registrations > the app > Certificates & secrets"),
])
def test_a_refused_credential_names_the_key_and_where_to_make_a_new_one(
        tls_sandbox: SandboxServer, tmp_path: Path, crm: str, mailbox: str, key: tuple[str, str], expected: str) -> None:
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(tls_sandbox, crm, mailbox),
                         crm=crm, mailbox=mailbox)
    section, name = key
    (config["crm"] if section == "crm" else config["mailboxes"][0])[name] = WRONG
    done = check(config, tmp_path)
    assert done.returncode == 1
    assert expected in flat(done.stdout), done.stdout
    assert WRONG not in done.stdout + done.stderr


@pytest.mark.parametrize(("crm", "mailbox", "provider", "path", "expected"), [
    ("hubspot", "gmail", "hubspot", "/crm/v3/owners",
     "hubspot accepted the credentials but refused the call: grant the private app these scopes (its Scopes tab): "
     "crm.objects.contacts.read, crm.objects.contacts.write"),
    ("salesforce", "gmail", "salesforce", "/services/data/",
     "salesforce accepted the credentials but refused the call: grant the integration user's profile or permission "
     "set API Enabled"),
    ("hubspot", "gmail", "gmail", "/gmail/v1/",
     "gmail accepted the credentials but refused the call: grant the scopes "
     "https://www.googleapis.com/auth/gmail.readonly"),
    ("hubspot", "outlook", "graph", "/v1.0/users",
     "outlook accepted the credentials but refused the call: grant the app the Microsoft Graph permissions Mail.Read "
     "and Mail.Send with admin consent"),
])
def test_a_refused_permission_names_the_scopes_to_grant(tls_sandbox: SandboxServer, tmp_path: Path, crm: str,
                                                         mailbox: str, provider: str, path: str, expected: str) -> None:
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(tls_sandbox, crm, mailbox),
                         crm=crm, mailbox=mailbox)
    tls_sandbox.faults.add(Fault(provider=provider, kind="error", status=403, count=100, path_prefix=path))
    done = check(config, tmp_path)
    assert done.returncode == 1
    assert expected in flat(done.stdout), done.stdout


def test_check_json_lists_every_check_with_its_outcome(sandbox: SandboxServer, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import yaml

    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(sandbox))
    config["crm"]["token"] = WRONG
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "threadline", "check", "--json", "-c", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    checks = json.loads(done.stdout)
    [token] = [c for c in checks if c["target"] == "hubspot" and c["item"] == "token"]
    assert token["ok"] is False and "crm.token" in token["detail"]
    assert any(c["target"].startswith("gmail") and c["ok"] for c in checks)
    assert WRONG not in done.stdout
