"""sync.create_contacts survives a SIGKILL between the CRM's create and the store's commit: on restart the look-up
by address finds the record the killed run made, so the person still has one record, with the reply logged once.

`threadline sync --once` runs as a real subprocess against the sandbox (HubSpot or Salesforce, Gmail);
THREADLINE_CRASH_AT kills it (no cleanup) right after the CRM answered the create.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.create_contacts_world import REPS, World, answer, outreach
from tests.engine.world import run_threadline, sync_once
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import CreatedContactRow, OutboxRow


@pytest.fixture(params=["hubspot", "salesforce"])
def world(request: pytest.FixtureRequest, sandbox: SandboxServer, tmp_path: Path) -> Iterator[World]:
    built = World(sandbox, tmp_path, request.param)
    yield built
    built.close()


def test_a_crash_after_the_crm_created_the_contact_leaves_one_contact(world: World) -> None:
    world.deliver(REPS[0], outreach(), "sent")
    world.deliver(REPS[0], answer())
    config = world.write_config("rep_emailed")
    crashed = sync_once(config, "outbox.after_contact_create:1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    [made] = world.people()                                     # the CRM made it; the store never heard
    with Store(world.store_url).session() as session:
        [row] = session.exec(select(OutboxRow).where(OutboxRow.kind == "create_contact")).all()
        assert row.status == "in_flight"
    finished = sync_once(config)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    again = sync_once(config)
    assert again.returncode == 0, again.stderr[-2000:]
    [person] = world.people()
    assert person["id"] == made["id"]
    assert len(world.logged_on(person["id"])) == 1
    with Store(world.store_url).session() as session:
        [row] = session.exec(select(OutboxRow).where(OutboxRow.kind == "create_contact")).all()
        [created] = session.exec(select(CreatedContactRow)).all()
    assert (row.status, row.remote_id, created.crm_id) == ("done", person["id"], person["id"])
    # What the admin sees: counted by `status`, listed by `audit` (named from the mirror, no address in the entry).
    status = run_threadline(config, "status", "--json")
    assert json.loads(status.stdout)["contacts_created"] == {"found": 1}, status.stderr[-2000:]
    audit = run_threadline(config, "audit", "--rule", "sync.create_contacts", "--json")
    [entry] = json.loads(audit.stdout)
    assert entry["contact_id"] == person["id"] and entry["kind"] == "create_contact"
    assert entry["contact"].startswith("Quinn Hale")
    assert entry["effect"]["mailbox"] == REPS[0] and entry["effect"]["created"] is False

