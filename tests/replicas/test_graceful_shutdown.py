"""SIGTERM stops `threadline run` cleanly: work in hand is committed, every lease is released, the exit is
prompt and 0; a restart resumes from the cursors and logs every reply exactly once.

The daemon runs as a real process on the real PostgreSQL store against the sandbox, which is
made slow (the "slow" fault on Gmail's batch endpoint) so that SIGTERM lands mid-cycle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import col, func, select

from tests.engine.world import reply, seed_contacts
from threadline.connector.demo.run import demo_config
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import CursorRow, OutboxRow, WorkLeaseRow

REPS = [f"rep{n}@northwind.example" for n in range(5)]
REPLIES_PER_REP = 2
SHUTDOWN_TIMEOUT = 6.0


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.1)


class World:
    """Five Gmail mailboxes with replies from six HubSpot contacts, a config on PostgreSQL, a store to look at."""

    def __init__(self, sandbox: SandboxServer, store_url: str, tmp_path: Path, **sync: Any) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.contact_ids, addresses = seed_contacts(sandbox, 6)
        self.expected = sorted(f"Re: Proposal {n * 10 + k}" for n in range(len(REPS)) for k in range(REPLIES_PER_REP))
        for n, rep in enumerate(REPS):
            for k in range(REPLIES_PER_REP):
                sandbox.gmail.deliver(rep, reply(addresses[(n + k) % 6], rep, n * 10 + k))
        config: dict[str, Any] = demo_config(sandbox, store_url, {"refresh_token": "", "owner_id": "1"})
        template = config["mailboxes"][0]
        config["mailboxes"] = [{**template, "address": rep,
                                "refresh_token": sandbox.gmail.oauth.issue_refresh_token(rep)} for rep in REPS]
        config["sync"].update({"poll_interval": "2s", "shutdown_timeout": f"{SHUTDOWN_TIMEOUT}s", **sync})
        config["server"] = {"port": 0}
        self.config = tmp_path / "threadline.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.store = Store(store_url)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "threadline", "run", "--config", str(self.config)],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})

    def output(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]

    def logged(self) -> list[str]:
        return sorted(e["properties"]["hs_email_subject"] for cid in self.contact_ids
                      for e in self.sandbox.hubspot.emails_for(cid))

    def mailboxes_done(self) -> int:
        with self.store.session() as session:
            return int(session.exec(select(func.count()).select_from(CursorRow).where(
                col(CursorRow.source).like("mailbox:%"), col(CursorRow.last_success_at).is_not(None))).one())

    def leftovers(self) -> tuple[list[str], int]:
        """Units still owned by someone, and outbox rows still in flight."""
        with self.store.session() as session:
            owned = session.exec(select(WorkLeaseRow.unit).where(col(WorkLeaseRow.owner).is_not(None))).all()
            in_flight = session.exec(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.status == "in_flight")).one()
        return sorted(owned), int(in_flight)


@pytest.fixture
def world(sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> Iterator[World]:
    # Two mailboxes pulled at once (concurrency on), fewer than the five: SIGTERM can land between them.
    made = World(sandbox, postgres_url, tmp_path, mailbox_concurrency=2)
    yield made
    made.store.dispose()


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM; the seconds until the process exited."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT + 10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return time.monotonic() - started


def test_sigterm_mid_cycle_commits_releases_and_exits_then_a_restart_logs_each_reply_once(world: World) -> None:
    # Every Gmail batch read takes a second: a cycle over five mailboxes is long.
    world.sandbox.faults.add(Fault("gmail", "slow", count=1000, path_prefix="/batch", delay=1.0))
    first = world.start("first")
    try:
        wait_for(lambda: world.mailboxes_done() >= 1, 40, "the first mailbox pulled")
        assert world.mailboxes_done() < len(REPS), "SIGTERM must land mid-cycle"
        took = stop(first)
    finally:
        first.kill()
    assert first.returncode == 0, world.output("first")
    assert took < SHUTDOWN_TIMEOUT, f"{took:.1f} s to stop"
    assert "threadline stopped" in world.output("first")
    assert world.leftovers() == ([], 0)            # no lease held, no outbox row left in flight
    assert len(world.logged()) < len(world.expected)

    world.sandbox.faults.clear()
    second = world.start("second")
    try:
        wait_for(lambda: world.logged() == world.expected, 40, "every reply logged after the restart")
        time.sleep(1.0)                            # a later cycle changes nothing
        assert stop(second) < SHUTDOWN_TIMEOUT
    finally:
        second.kill()
    assert second.returncode == 0, world.output("second")
    assert world.logged() == world.expected        # each exactly once
    assert world.leftovers() == ([], 0)


def test_a_provider_call_hanging_past_the_shutdown_timeout_does_not_hold_the_exit(
        sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> None:
    world = World(sandbox, postgres_url, tmp_path, shutdown_timeout="3s")
    sandbox.faults.add(Fault("gmail", "slow", count=1000, path_prefix="/batch", delay=6.0))
    process = world.start("hung")
    try:
        wait_for(lambda: world.leftovers()[0] != [] and any(u.startswith("mailbox:") for u in world.leftovers()[0]),
                 40, "a mailbox being pulled")
        time.sleep(0.5)
        took = stop(process)
    finally:
        process.kill()
    assert process.returncode == 0, world.output("hung")
    assert took < 3.0 + 2.0, f"{took:.1f} s to stop"
    assert world.leftovers() == ([], 0)            # the hung pull's lease was released for the next replica
    world.store.dispose()
