"""Retries that last what they promise, and throttles longer than a lease handled as throttles.

- A contact's reply properties are not given up while their reply's activity is still failing: waiting for
  another row is not an attempt (it used to be: the row failed after 81 s of a day's promise).
- Giving up is a time horizon from the first failed attempt (`sync.give_up_after`), not a count of claims;
  tested by moving the stored times (the store is the clock the executor reads).
- A throttle longer than half the lease parks the CRM's writes in the store for every replica until it ends,
  with no thread sleeping through it; then each reply is logged once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from tests.engine.world import reply, seed_contacts
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.monitoring.metrics import Metrics
from threadline.connector.monitoring.status import build_status
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.store.tables import OutboxRow, SourceHoldRow, utcnow

REP = "rep@northwind.example"
CREATE = "/crm/v3/objects/emails/batch/create"
UPDATE = "/crm/v3/objects/contacts/batch/update"


def config_for(sandbox: SandboxServer, store_url: str, **sync: Any) -> dict[str, Any]:
    config = demo_config(sandbox, store_url, {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP),
                                               "owner_id": "1"})
    config["mailboxes"][0]["address"] = REP
    config["sync"].update(sync)
    return config


@pytest.fixture
def engines(sandbox: SandboxServer, tmp_path: Path) -> Iterator[list[SyncEngine]]:
    """Filled in by each test (so it picks the store); closed afterwards."""
    made: list[SyncEngine] = []
    yield made
    for engine in made:
        engine.close()


def engine_on(engines: list[SyncEngine], config: dict[str, Any], tmp_path: Path) -> SyncEngine:
    engine = build_engine(parse_settings(config, tmp_path / "threadline.yaml", env={}))
    engines.append(engine)
    return engine


def outbox_rows(engine: SyncEngine, kind: str) -> list[OutboxRow]:
    with engine.store.session() as session:
        return list(session.exec(select(OutboxRow).where(OutboxRow.kind == kind)).all())


def test_reply_properties_outlast_a_run_of_failures_and_attempts_count_provider_calls(
        sandbox: SandboxServer, sqlite_url: str, tmp_path: Path, engines: list[SyncEngine]) -> None:
    [contact], [address] = seed_contacts(sandbox, 1)
    sandbox.gmail.deliver(REP, reply(address, REP, 1), ["INBOX"])
    # The reply's activity fails five times, then the contact update six times (each a provider 500).
    sandbox.faults.add(Fault("hubspot", "error", count=5, status=500, path_prefix=CREATE))
    sandbox.faults.add(Fault("hubspot", "error", count=6, status=500, path_prefix=UPDATE))
    engine = engine_on(engines, config_for(sandbox, sqlite_url, retry_first_delay="50ms", retry_max_delay="200ms"),
                       tmp_path)
    for _ in range(10):
        engine.run_once()
        if all(r.status == "done" for r in outbox_rows(engine, "update_contact") + outbox_rows(engine, "log_email")):
            break
    [logged] = outbox_rows(engine, "log_email")
    [updated] = outbox_rows(engine, "update_contact")
    assert (logged.status, updated.status) == ("done", "done")
    assert logged.attempts == 6                  # five refused creates, then the one that worked
    assert updated.attempts == 2                 # one call whose six inner retries all failed, then success
    assert len(sandbox.hubspot.emails_for(contact)) == 1
    properties = sandbox.hubspot.object("contacts", contact).properties
    assert properties["threadline_reply_count"] == "1"
    assert properties["threadline_last_reply_at"]


def test_giving_up_is_a_time_horizon_from_the_first_failure_not_a_count(
        sandbox: SandboxServer, store_url: str, tmp_path: Path, engines: list[SyncEngine]) -> None:
    [contact], [address] = seed_contacts(sandbox, 1)
    sandbox.gmail.deliver(REP, reply(address, REP, 2), ["INBOX"])
    sandbox.faults.add(Fault("hubspot", "error", count=10_000, status=500, path_prefix=CREATE))
    engine = engine_on(engines, config_for(sandbox, store_url, give_up_after="1d"), tmp_path)
    engine.run_once()
    [row] = outbox_rows(engine, "log_email")
    assert row.status == "pending" and row.first_attempt_at is not None

    def travel(**values: Any) -> None:        # move the stored clock: the row was claimed long ago
        with engine.store.session() as session:
            session.execute(update(OutboxRow).where(OutboxRow.id == row.id)
                            .values(next_attempt_at=utcnow() - timedelta(seconds=1), **values))

    travel(attempts=50, first_attempt_at=utcnow() - timedelta(hours=23))
    engine.executor.run(settle_seconds=0)
    [row] = outbox_rows(engine, "log_email")
    assert row.status == "pending"               # 51 attempts, 23 hours: still inside the day it was promised
    travel(first_attempt_at=utcnow() - timedelta(hours=25))
    engine.executor.run(settle_seconds=0)
    [row] = outbox_rows(engine, "log_email")
    assert row.status == "failed" and row.last_error is not None and row.last_error.startswith("gave up after")
    assert "1 day" in row.last_error
    with engine.store.session() as session:
        assert build_status(session).outbox.get("failed") == 1
    assert sandbox.hubspot.emails_for(contact) == []


def test_a_throttle_longer_than_the_lease_parks_the_writes_for_every_replica_then_logs_once(
        sandbox: SandboxServer, postgres_url: str, tmp_path: Path, engines: list[SyncEngine]) -> None:
    ids, addresses = seed_contacts(sandbox, 3)
    for n, address in enumerate(addresses):
        sandbox.gmail.deliver(REP, reply(address, REP, 10 + n), ["INBOX"])
    # HubSpot answers the first create with a 15-minute throttle; the lease is 10 s.
    sandbox.faults.add(Fault("hubspot", "throttle", count=1, delay=900, path_prefix=CREATE))
    config = config_for(sandbox, postgres_url, lease_time="10s")
    first, second = engine_on(engines, config, tmp_path), engine_on(engines, config, tmp_path)
    started = utcnow()
    first.run_once()
    assert (utcnow() - started) < timedelta(seconds=60)       # nobody slept through the throttle
    with first.store.session() as session:
        [hold] = session.exec(select(SourceHoldRow)).all()
        status = build_status(session)
    assert hold.source == "crm:hubspot" and hold.set_by == first.owner
    assert timedelta(minutes=14) < hold.held_until.replace(tzinfo=started.tzinfo) - started <= timedelta(minutes=16)
    assert any(h.source == "crm:hubspot" for h in status.holds)
    metrics = Metrics(parse_settings(config, tmp_path / "threadline.yaml", env={}), first.store, started).render()
    [held] = [line for line in metrics.decode().splitlines()
              if line.startswith('threadline_source_held_seconds{source="crm:hubspot"}')]
    assert 800 < float(held.split()[-1]) <= 900
    rows = outbox_rows(first, "log_email")
    assert len(rows) == 3 and all(r.status == "pending" and r.attempts == 0 for r in rows)

    second.executor.run(settle_seconds=0)          # the other replica respects the hold: no request at all
    assert sandbox.ctx.faults.fired.get("throttle") == 1
    assert sum(len(sandbox.hubspot.emails_for(c)) for c in ids) == 0

    with first.store.session() as session:        # fifteen minutes later (the stored clock moves on)
        session.execute(update(SourceHoldRow).values(held_until=utcnow() - timedelta(seconds=1)))
        session.execute(update(OutboxRow).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    second.executor.run(settle_seconds=0)
    first.executor.run(settle_seconds=0)
    assert sorted(len(sandbox.hubspot.emails_for(c)) for c in ids) == [1, 1, 1]
