"""/readyz tells the truth: store, migrations, and every configured source within its budget."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.web.world import ADMIN_TOKEN, web_settings, world
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.readiness import (
    SourceBudget,
    SourceHealth,
    migrations_check,
    source_budgets,
    source_check,
)
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import alembic_config, head_revision

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BOX = SourceBudget("mailbox:rep@northwind.example", "gmail", "rep@northwind.example", timedelta(minutes=3))


def test_a_recent_success_is_ready_and_an_old_one_is_stale() -> None:
    started = NOW - timedelta(hours=1)
    fresh = source_check(BOX, SourceHealth(NOW - timedelta(minutes=2)), now=NOW, started_at=started)
    stale = source_check(BOX, SourceHealth(NOW - timedelta(minutes=4), NOW - timedelta(seconds=5),
                                           "gmail.TransientError"), now=NOW, started_at=started)
    assert (fresh.ok, fresh.state) == (True, "ok")
    assert (stale.ok, stale.state) == (False, "stale")
    assert "gmail.TransientError" in stale.detail and "4m ago" in stale.detail


def test_refused_credentials_are_not_ready_at_once_and_say_reauthorize() -> None:
    refused = source_check(BOX, SourceHealth(NOW - timedelta(minutes=2), NOW - timedelta(seconds=5),
                                             "gmail.AuthExpired"), now=NOW, started_at=NOW - timedelta(hours=1))
    assert (refused.ok, refused.state) == (False, "reauthorize")
    assert "gmail.AuthExpired" in refused.detail and "2m ago" in refused.detail


def test_a_source_that_never_succeeded_is_starting_only_within_its_budget_after_start() -> None:
    early = source_check(BOX, SourceHealth(), now=NOW, started_at=NOW - timedelta(minutes=1))
    late = source_check(BOX, SourceHealth(), now=NOW, started_at=NOW - timedelta(minutes=5))
    assert (early.ok, early.state) == (True, "starting")
    assert (late.ok, late.state) == (False, "failing")


def test_a_success_from_before_a_restart_gets_the_startup_grace() -> None:
    check = source_check(BOX, SourceHealth(NOW - timedelta(hours=6)), now=NOW, started_at=NOW - timedelta(seconds=10))
    assert (check.ok, check.state) == (True, "starting")


def test_migrations_must_be_at_head() -> None:
    assert migrations_check("abc", "abc").ok
    behind = migrations_check("old", "abc")
    assert not behind.ok and "threadline db upgrade" in behind.detail


def test_budgets_are_three_poll_intervals_with_a_floor(sandbox: SandboxServer, tmp_path: Path) -> None:
    settings = web_settings(sandbox, "sqlite://", tmp_path, readiness_floor="2m")
    crm, box = source_budgets(settings)                       # poll_interval 1s: the floor wins
    assert (crm.source, crm.budget) == ("crm:hubspot", timedelta(minutes=2))
    assert (box.source, box.mailbox, box.budget) == (f"mailbox:{REP}", REP, timedelta(minutes=2))
    slow = settings.model_copy(update={"sync": settings.sync.model_copy(update={"poll_interval": timedelta(hours=1)})})
    assert source_budgets(slow)[1].budget == timedelta(hours=3)


def _checks(url: str) -> tuple[int, dict[str, dict[str, object]]]:
    response = httpx.get(f"{url}/readyz")
    return response.status_code, {c["name"]: c for c in response.json()["checks"]}


def _wait_status(url: str, wanted: int, cycle, seconds: float = 10.0) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        cycle()
        status, checks = _checks(url)
        if status == wanted:
            return checks
        assert time.monotonic() < deadline, f"/readyz stayed {status}: {checks}"
        time.sleep(0.3)


def test_readyz_names_a_broken_mailbox_and_recovers_when_it_heals(sandbox: SandboxServer, sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    settings = web_settings(sandbox, sqlite_url, tmp_path)
    with world(settings) as (engine, url):
        engine.run_once()
        status, checks = _checks(url)
        assert status == 200 and {c["state"] for c in checks.values()} == {"ok"}
        sandbox.faults.add(Fault(provider="gmail", kind="error", status=403, count=10_000, path_prefix="/gmail/v1/"))
        checks = _wait_status(url, 503, engine.run_once)
        broken = checks[f"mailbox:{REP}"]
        assert broken["ok"] is False and broken["state"] == "stale" and "gmail.PermanentError" in broken["detail"]
        assert checks["crm:hubspot"]["ok"] is True and checks["store"]["ok"] and checks["migrations"]["ok"]
        sandbox.faults.clear()
        _wait_status(url, 200, engine.run_once)
        body = httpx.get(f"{url}/readyz").text
        assert ADMIN_TOKEN not in body and sandbox.settings.google_client_secret not in body


def test_readyz_fails_when_the_store_goes_down(sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> None:
    settings = web_settings(sandbox, postgres_url, tmp_path)
    with world(settings) as (engine, url):
        engine.run_once()
        assert _checks(url)[0] == 200
        database = make_url(postgres_url).database
        admin = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()
        status, checks = _checks(url)
        assert status == 503 and checks["store"]["state"] == "down"
        assert "OperationalError" in str(checks["store"]["detail"]) and "postgres" not in str(checks["store"]["detail"])


def test_readyz_fails_while_migrations_are_behind(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    settings = web_settings(sandbox, sqlite_url, tmp_path)
    with world(settings) as (engine, url):
        engine.run_once()
        config = alembic_config(sqlite_url)
        previous = ScriptDirectory.from_config(config).get_revision(head_revision()).down_revision
        command.stamp(config, str(previous))
        status, checks = _checks(url)
        assert status == 503 and checks["migrations"]["ok"] is False and str(previous) in checks["migrations"]["detail"]
        command.stamp(config, "head")      # the schema itself was never changed: only the recorded revision
        assert _checks(url)[0] == 200


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: SandboxServer):  # type: ignore[no-untyped-def]
    yield
    sandbox.faults.clear()
