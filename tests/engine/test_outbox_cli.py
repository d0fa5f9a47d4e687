"""`threadline outbox` as an admin uses it: a CRM write that gave up is listed with its reason, retried by
command and then performed once; another is discarded for good; every action is in the audit table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from sqlmodel import select

from tests.engine.world import reply, seed_contacts
from threadline.connector.demo.run import demo_config
from threadline.connector.monitoring.readiness import Check, outbox_check
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow

REP = "rep@northwind.example"
CREATE = "/crm/v3/objects/emails/batch/create"


def threadline(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120)


def outbox_readiness(store_url: str) -> Check:
    """The /readyz check on failed writes and sends, as the daemon would answer it now."""
    store = Store(store_url, migrate=False)
    try:
        return outbox_check(store)
    finally:
        store.dispose()


def test_a_failed_write_is_listed_retried_and_logged_once_and_another_discarded(  # SQLite and PostgreSQL
        sandbox: SandboxServer, store_url: str, tmp_path: Path) -> None:
    [first, second], [first_address, second_address] = seed_contacts(sandbox, 2)
    config = demo_config(sandbox, store_url, {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP),
                                               "owner_id": "1"})
    config["mailboxes"][0]["address"] = REP
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    sandbox.gmail.deliver(REP, reply(first_address, REP, 1), ["INBOX"])
    sandbox.faults.add(Fault("hubspot", "error", count=1, status=400, path_prefix=CREATE))   # refused for good
    synced = threadline(path, "sync", "--once")

    listed = threadline(path, "outbox", "--failed", "--json")
    assert listed.returncode == 0, listed.stderr
    [failed] = json.loads(listed.stdout)
    [logged_failure] = [json.loads(line) for line in (synced.stdout + synced.stderr).splitlines()
                        if '"outbox.failed"' in line]
    assert logged_failure["key"] == failed["key"] and "400" in logged_failure["error"]
    assert "threadline outbox retry" in logged_failure["remedy"]
    assert outbox_readiness(store_url).state == "degraded"
    degraded = outbox_readiness(store_url).detail          # public: a count and a kind, never the reason
    assert degraded.startswith("1 failed (newest: a log_email row)") and "400" not in degraded
    assert (failed["kind"], failed["contact_id"], failed["status"]) == ("log_email", first, "failed")
    assert "400" in failed["last_error"]
    table = threadline(path, "outbox", "--failed")
    assert failed["key"] in table.stdout and "log_email" in table.stdout

    refused = threadline(path, "outbox", "retry")
    assert refused.returncode == 2 and "--all-failed" in refused.stderr
    retried = threadline(path, "outbox", "retry", failed["key"])
    assert retried.returncode == 0 and "retried 1 row" in retried.stdout, retried.stderr
    threadline(path, "sync", "--once")
    assert [e["properties"]["hs_email_subject"] for e in sandbox.hubspot.emails_for(first)] == ["Re: Proposal 1"]
    assert json.loads(threadline(path, "outbox", "--failed", "--json").stdout) == []
    assert outbox_readiness(store_url).state == "ok"
    again = threadline(path, "outbox", "retry", failed["key"])
    assert again.returncode == 1 and "not failed" in again.stderr

    sandbox.gmail.deliver(REP, reply(second_address, REP, 2), ["INBOX"])
    sandbox.faults.add(Fault("hubspot", "error", count=1, status=400, path_prefix=CREATE))
    threadline(path, "sync", "--once")
    [other] = json.loads(threadline(path, "outbox", "--failed", "--json").stdout)
    discarded = threadline(path, "outbox", "discard", other["key"], "--reason", "the contact asked us not to")
    assert discarded.returncode == 0, discarded.stderr
    twice = threadline(path, "outbox", "discard", other["key"])
    assert twice.returncode == 1 and "cancelled" in twice.stderr
    threadline(path, "outbox", "retry", "--all-failed")
    threadline(path, "sync", "--once")
    assert sandbox.hubspot.emails_for(second) == []

    store = Store(store_url)
    with store.session() as session:
        audited = sorted((row.rule, row.contact_id) for row in session.exec(select(AuditRow)).all())
    store.dispose()
    assert audited == [("admin:outbox discard", second), ("admin:outbox retry", first)]
