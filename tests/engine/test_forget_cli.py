"""`threadline forget` as an admin answers a data-subject request, over a store that real sync cycles filled
from the sandbox (HubSpot + Gmail): the dry run lists the HubSpot records Threadline wrote for the person (the
same ids HubSpot holds) and changes nothing; the real run leaves nothing about them in the store, keeps the
other person's rows, asks first unless --yes, and the person is not mirrored or logged again afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from tests.engine.world import email
from tests.store.forget_world import every_row, rows_about
from threadline.connector.demo.run import demo_config
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow

REP = "rep@northwind.example"
ADA, ADA_WORK, BOB = "ada@customer.example", "ada.work@customer.example", "bob@other.example"


def threadline(config: Path, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, input=answer)


@pytest.fixture
def world(sandbox: SandboxServer, store_url: str, tmp_path: Path) -> tuple[Path, str, str]:
    """Ada (two addresses) and Bob in HubSpot; Ada's replies (one +tagged) and Bob's (one with Ada in Cc) logged."""
    ada = sandbox.hubspot.add_contact(ADA, additional_emails=[ADA_WORK], firstname="Ada")
    bob = sandbox.hubspot.add_contact(BOB, firstname="Bob")
    config = demo_config(sandbox, store_url, {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP),
                                               "owner_id": "1"})
    config["mailboxes"][0]["address"] = REP
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    for n, (sender, cc) in enumerate([("Ada <ada+pilot@customer.example>", None), (ADA_WORK, None),
                                      (BOB, f"Ada <{ADA}>"), (BOB, None)]):
        raw = email(sender, REP, f"Re: pilot {n}", f"reply {n}", msg_id=f"<r{n}@customer.example>",
                    headers={"Cc": cc} if cc else None)
        sandbox.gmail.deliver(REP, raw, ["INBOX"])
    synced = threadline(path, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert len(sandbox.hubspot.emails_for(ada)) == 2 and len(sandbox.hubspot.emails_for(bob)) == 2
    return path, ada, bob


def test_forget_lists_the_crm_records_removes_the_person_and_keeps_them_forgotten(
        world: tuple[Path, str, str], sandbox: SandboxServer, store_url: str) -> None:
    path, ada, bob = world
    store = Store(store_url, migrate=False)
    before = every_row(store)
    about_ada = (ADA, ADA_WORK, "ada+pilot", f'"{ada}"', f"| {ada} |")       # her addresses, her record id
    assert set(rows_about(store, *about_ada)) >= {"contacts", "contact_addresses", "messages", "outbox", "events"}

    dry = threadline(path, "forget", "ADA+anything@Customer.example", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert every_row(store) == before
    listed = json.loads(dry.stdout)
    records = {(r["kind"], r["remote_id"], r["contact_id"]) for r in listed["crm_records"]}
    naming = [e["id"] for e in sandbox.hubspot.emails_for(bob)
              if ADA in json.dumps(e["properties"].get("hs_email_headers", {})).lower()]
    assert records == {("contact", ada, ada), *(("email", e["id"], ada) for e in sandbox.hubspot.emails_for(ada)),
                       *(("email_naming", e, bob) for e in naming)}
    assert len(naming) == 1 and sorted(listed["addresses"]) == sorted({ADA, ADA_WORK, "ada+anything@customer.example"})

    assert threadline(path, "forget", ADA, "--json").returncode == 2          # --json cannot ask
    declined = threadline(path, "forget", ADA, answer="n\n")
    assert declined.returncode == 1 and "nothing changed" in declined.stderr
    assert every_row(store) == before

    done = threadline(path, "forget", ADA_WORK, answer="y\n")
    assert done.returncode == 0, done.stderr
    assert "delete them in HubSpot" in done.stdout and f"contact {ada}" in done.stdout
    assert rows_about(store, *about_ada) == {}
    assert {t: len(r) for t, r in rows_about(store, BOB).items()} == \
           {t: len(r) for t, r in _about_bob(before).items()}
    again = threadline(path, "forget", ADA, "--yes")
    assert again.returncode == 0 and "nothing (Threadline stores nothing about them)" in again.stdout

    # HubSpot still has Ada (only the admin deletes her there); she changes and writes again.
    sandbox.hubspot.update_contact(ada, firstname="Ada L.")
    sandbox.gmail.deliver(REP, email(ADA, REP, "Re: pilot again", "still there?", msg_id="<r9@customer.example>"),
                          ["INBOX"])
    assert threadline(path, "sync", "--once").returncode == 0
    with store.session() as session:
        assert ada not in session.exec(select(ContactRow.crm_id)).all()
        audit = [row.reason for row in session.exec(select(AuditRow).where(AuditRow.rule == "privacy:forget"))]
    assert len(sandbox.hubspot.emails_for(ada)) == 2               # nothing more logged on her
    assert len(audit) == 2 and all("a***@c***.example" in line and ADA not in line for line in audit)
    store.dispose()


def _about_bob(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    return {t: hits for t, table in rows.items() if (hits := [r for r in table if BOB in r.lower()])}
