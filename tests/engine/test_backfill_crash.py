"""SIGKILL in the middle of the first HubSpot contact pull (both walks running), then restart: every contact is
mirrored once, the pull resumes from both ends instead of starting again, and it hands over to the incremental
pull. Runs `threadline sync --once` as a real process against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, update
from sqlmodel import select

from tests.engine.world import sync_once, write_config
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, CursorRow, EventRow, WorkLeaseRow

CONTACTS = 3000
BASE_MS = 1_700_000_000_000


def gmail_box(sandbox: SandboxServer) -> dict[str, Any]:
    s = sandbox.settings
    return {"kind": "gmail", "address": "rep@example.com", "base_url": sandbox.url,
            "token_uri": f"{sandbox.url}/token", "client_id": s.google_client_id,
            "client_secret": s.google_client_secret, "refresh_token": s.google_refresh_token}


def list_and_search_calls(sandbox: SandboxServer) -> int:
    routes = sandbox.stats.snapshot()["by_route"]
    return routes.get("hubspot GET list", 0) + routes.get("hubspot POST search", 0)


def test_a_backfill_killed_mid_way_resumes_from_both_ends_and_mirrors_each_contact_once(
        tmp_path: Path, sandbox: SandboxServer, store_url: str) -> None:
    sandbox.hubspot.settings.hubspot_search_per_second = 100
    sandbox.hubspot.settings.hubspot_requests_per_10s = 5000
    ids = sandbox.hubspot.seed_contacts(CONTACTS, start_ms=BASE_MS)
    config = write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox,
                          mailboxes=[gmail_box(sandbox)])
    crashed = sync_once(config, "contacts.after_page_commit:6")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    store = Store(store_url)
    with store.session() as session:
        saved = json.loads(session.get(CursorRow, "crm:hubspot").data)["backfill"]
        partial = session.exec(select(func.count()).select_from(ContactRow)).one()
    assert saved["low"] > 0 and saved["high"] is not None and 0 < partial < CONTACTS
    with store.session() as session:     # the killed replica's leases run out (on PostgreSQL they bind until then)
        session.exec(update(WorkLeaseRow).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    before = list_and_search_calls(sandbox)

    finished = sync_once(config)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    # Resumed, not restarted: the rest costs about what the missing contacts need (list 100, search 200 a page).
    assert list_and_search_calls(sandbox) - before <= (CONTACTS - partial) / 100 + 6
    with store.session() as session:
        mirrored = session.exec(select(ContactRow.crm_id)).all()
        created = session.exec(select(func.count()).select_from(EventRow).where(
            EventRow.type == "contact.created")).one()
        cursor = json.loads(session.get(CursorRow, "crm:hubspot").data)
    assert sorted(mirrored) == sorted(ids)
    assert created == CONTACTS                      # each contact's creation recorded once, crash or not
    assert "backfill" not in cursor and cursor["modified_after"] == BASE_MS + (CONTACTS - 1) * 1000
    store.engine.dispose()
