"""The store under infrastructure faults: SQLite on a full disk, PostgreSQL losing its connections and
restarting mid-run. Each ends with every reply logged on the CRM sandbox exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.engine.world import (
    SANDBOX_HUBSPOT_TOKEN,
    imap_mailbox_config,
    reply,
    seed_contacts,
    sync_once,
    write_config,
)
from tests.fixtures.availability import server_missing
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

pytestmark = pytest.mark.dovecot
CONTACTS = 4


def subjects_on_crm(sandbox: SandboxServer, contact_ids: list[str]) -> list[str]:
    return sorted(e["properties"]["hs_email_subject"] for cid in contact_ids for e in sandbox.hubspot.emails_for(cid))


def big_reply(contact: str, rep: str, n: int) -> bytes:
    """A reply with a long new text (stored as reply context), so a few of them fill a small disk."""
    filler = "".join(f"Line {i} of the long answer to question {n}, with details we need.\n" for i in range(400))
    return reply(contact, rep, n).replace(b"Thanks, reply number", filler.encode() + b"Thanks, reply number", 1)


# -- SQLite: disk full -----------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs mounted for the test (needs root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        server_missing(f"a small tmpfs (mount as root failed: {done.stderr.decode().strip()})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` up to `leave` bytes of free space with a ballast file; delete it to free the space."""
    ballast = disk / "ballast"
    stats = os.statvfs(disk)
    ballast.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return ballast


def test_disk_full_stops_with_a_clear_error_and_the_next_sync_completes_exactly(
        tmp_path: Path, sandbox: SandboxServer, imap_account, small_disk: Path) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    imap_account.deliver(reply(addresses[0], imap_account.username, 0))
    db = small_disk / "threadline.db"
    config = write_config(tmp_path / "threadline.yaml", store_url=f"sqlite:///{db}", sandbox=sandbox,
                          mailboxes=[imap_mailbox_config(imap_account)])
    assert sync_once(config).returncode == 0
    for n in range(1, 13):
        imap_account.deliver(big_reply(addresses[n % CONTACTS], imap_account.username, n))

    ballast = fill(small_disk, leave=64 * 1024)
    full = sync_once(config)

    assert full.returncode != 0
    output = full.stdout + full.stderr
    assert "Traceback" not in output, output[-3000:]
    assert f"database or disk is full: free space on {small_disk}" in " ".join(output.split()), output[-3000:]

    ballast.unlink()
    finished = sync_once(config)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert subjects_on_crm(sandbox, ids) == sorted(f"Re: Proposal {n}" for n in range(13))


# -- PostgreSQL: connections killed, server restarted --------------------------------------------------------

REPLIES = 8


@dataclass
class Daemon:
    """One `threadline run` process on a config; its output goes to a file next to it."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_daemon(config: Path) -> Daemon:
    log_path = config.parent / "daemon.log"
    with log_path.open("wb") as log:
        env = {**os.environ, "HUBSPOT_TOKEN": SANDBOX_HUBSPOT_TOKEN, "THREADLINE_LOG_FORMAT": "json"}
        env.pop("THREADLINE_CRASH_AT", None)
        process = subprocess.Popen([sys.executable, "-m", "threadline", "run", "--config", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    return Daemon(process, log_path)


def daemon_config(tmp_path: Path, sandbox: SandboxServer, store_url: str, imap_account) -> Path:  # type: ignore[no-untyped-def]
    return write_config(tmp_path / "threadline.yaml", store_url=store_url, sandbox=sandbox,
                        mailboxes=[imap_mailbox_config(imap_account)], sections={"server": {"port": 0}},
                        poll_interval="1s")


def wait_for(count: Callable[[], int], wanted: int, daemon: Daemon, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while count() < wanted and time.monotonic() < deadline:
        assert daemon.process.poll() is None, "the daemon died:\n" + daemon.output()[-3000:]
        time.sleep(0.2)
    assert count() >= wanted, f"{count()} of {wanted} logged:\n" + daemon.output()[-3000:]


def assert_each_reply_once(sandbox: SandboxServer, contact_ids: list[str]) -> None:
    """Every reply is one email activity on its contact. (The reply-count property may trail by the executor's
    30 s "waiting for the reply to be logged first" retry after a killed transaction, so it is not asserted here.)"""
    assert subjects_on_crm(sandbox, contact_ids) == sorted(f"Re: Proposal {n}" for n in range(REPLIES))


def terminate_backends(admin_url: str, database: str) -> int:
    """pg_terminate_backend on every connection to `database`, as an admin would (or a failover does)."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": database}).all())
    finally:
        engine.dispose()


def test_daemon_outlives_its_postgres_connections_being_killed_and_logs_each_reply_once(
        tmp_path: Path, sandbox: SandboxServer, imap_account, postgres_admin: str,  # type: ignore[no-untyped-def]
        postgres_url: str) -> None:
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    daemon = start_daemon(daemon_config(tmp_path, sandbox, postgres_url, imap_account))
    database = make_url(postgres_url).database or ""
    killed = 0
    try:
        imap_account.deliver(reply(addresses[0], imap_account.username, 0))
        wait_for(lambda: len(subjects_on_crm(sandbox, ids)), 1, daemon)        # up and running
        for n in range(1, REPLIES):        # mail keeps arriving while the store's connections keep dying
            imap_account.deliver(reply(addresses[n % CONTACTS], imap_account.username, n))
            time.sleep(0.3)
            killed += terminate_backends(postgres_admin, database)
        wait_for(lambda: len(subjects_on_crm(sandbox, ids)), REPLIES, daemon)
        time.sleep(1.1)                    # one more cycle (poll_interval 1s): nothing further may be logged
    finally:
        code = daemon.stop()
    assert killed >= 2, killed            # the daemon's connections were there to kill, cycle after cycle
    assert code == 0, daemon.output()[-3000:]
    assert_each_reply_once(sandbox, ids)


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory), so restarting it disturbs
    no one else using the machine's server."""

    bin_dir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                        "-l", str(self.data.parent / "server.log"), "-w", *args], check=True, capture_output=True)

    def start(self) -> None:
        self.pg_ctl("-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off", "start")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """initdb + start as the postgres user (needs root and the PostgreSQL server binaries); stopped afterwards."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if os.geteuid() != 0 or not found or shutil.which("runuser") is None:
        server_missing("a private PostgreSQL cluster (root and /usr/lib/postgresql/*/bin/initdb)")
    home = Path(tempfile.mkdtemp(prefix="tl-pg-"))
    shutil.chown(home, "postgres", "postgres")
    cluster = PrivateCluster(found[-1].parent, home / "data", free_port())
    subprocess.run(["runuser", "-u", "postgres", "--", str(cluster.bin_dir / "initdb"), "-D", str(cluster.data),
                    "-A", "trust", "-U", "postgres", "--no-sync"], check=True, capture_output=True)
    cluster.start()
    yield cluster
    cluster.pg_ctl("-m", "immediate", "stop")
    shutil.rmtree(home, ignore_errors=True)


def test_daemon_outlives_a_postgres_restart_and_logs_each_reply_once(
        tmp_path: Path, sandbox: SandboxServer, imap_account, private_postgres: PrivateCluster) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, CONTACTS)
    daemon = start_daemon(daemon_config(tmp_path, sandbox, private_postgres.url, imap_account))
    try:
        imap_account.deliver(reply(addresses[0], imap_account.username, 0))
        wait_for(lambda: len(subjects_on_crm(sandbox, ids)), 1, daemon)        # up and running
        # The next CRM create is held 2.5 s: the restart lands while its rows are claimed (in flight) and the
        # CRM is creating them, so the daemon must record the outcome on a store that went away meanwhile.
        sandbox.faults.add(Fault(provider="hubspot", kind="slow", delay=2.5, method="POST",
                                 path_prefix="/crm/v3/objects/emails/batch/create"))
        for n in range(1, REPLIES // 2):
            imap_account.deliver(reply(addresses[n % CONTACTS], imap_account.username, n))
        wait_for(lambda: sandbox.faults.fired.get("slow", 0), 1, daemon)
        private_postgres.pg_ctl("-m", "fast", "restart")   # every connection of the pool dies
        for n in range(REPLIES // 2, REPLIES):
            imap_account.deliver(reply(addresses[n % CONTACTS], imap_account.username, n))
        wait_for(lambda: len(subjects_on_crm(sandbox, ids)), REPLIES, daemon)
        time.sleep(1.1)                    # one more cycle (poll_interval 1s): nothing further may be logged
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()[-3000:]
    assert_each_reply_once(sandbox, ids)
