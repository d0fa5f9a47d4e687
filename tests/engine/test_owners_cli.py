"""`threadline owners` on both CRMs: the ids an admin puts in a mailbox's owner_id, and which owners already
have a mailbox, without curl against the CRM's API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from threadline.connector.demo.run import REP, demo_config, seed_demo
from threadline.sandbox.server import SandboxServer


def owners(config: dict[str, object], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "threadline", "owners", *args, "--config", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_hubspot_owners_with_their_ids_and_mailboxes(sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)                                   # the demo rep, with a mailbox
    other = sandbox.hubspot.add_owner("sam@northwind.example", first_name="Sam", last_name="Lee")
    gone = sandbox.hubspot.add_owner("old@northwind.example", first_name="Old", last_name="Rep", archived=True)
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    listed = owners(config, tmp_path, "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {o["id"]: o for o in json.loads(listed.stdout)}
    assert by_id[seeded["owner_id"]]["mailbox"] == REP
    assert by_id[other] == {"id": other, "name": "Sam Lee", "email": "sam@northwind.example", "active": True,
                            "mailbox": None}
    assert gone not in by_id or by_id[gone]["active"] is False
    table = owners(config, tmp_path)
    assert other in table.stdout and "Sam Lee" in table.stdout and "none: add one with this owner_id" in table.stdout


def test_salesforce_users_with_their_ids_and_mailboxes(tls_sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce")
    other = tls_sandbox.salesforce.add_user("sam@northwind.example", first_name="Sam", last_name="Lee")
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    listed = owners(config, tmp_path, "--json")
    assert listed.returncode == 0, listed.stderr
    by_id = {o["id"]: o for o in json.loads(listed.stdout)}
    assert by_id[seeded["owner_id"]]["mailbox"] == REP
    assert by_id[other]["name"] == "Sam Lee" and by_id[other]["mailbox"] is None


def test_an_unreachable_crm_says_so_in_one_line(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", {"owner_id": "1", "refresh_token": "x"})
    config["crm"]["base_url"] = "http://127.0.0.1:9"              # nothing listens there
    failed = owners(config, tmp_path)
    assert failed.returncode == 1
    assert "cannot list the CRM's owners" in failed.stderr and "127.0.0.1:9 (connection refused)" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_check_names_an_owner_id_the_crm_does_not_have(sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    check = [sys.executable, "-m", "threadline", "check", "--config", str(path)]
    assert "mailboxes[0].owner_id" in subprocess.run(check, capture_output=True, text=True, timeout=120).stdout
    config["mailboxes"][0]["owner_id"] = "90999"                   # a typo'd id
    path.write_text(yaml.safe_dump(config))
    failed = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "90999 is not an owner in hubspot; `threadline owners` lists the ids" in failed.stdout
