"""A real `threadline run` on loopback, and the raw-socket tools an attacker (and the benchmark) uses against it.

The daemon syncs a HubSpot + Gmail sandbox of its own (so nothing else resets it mid-test), with webhooks,
/events and unsubscribe links on, and short header/body timeouts so that the slow-client cases take seconds.
Attackers connect from other loopback addresses (127.0.0.2, 127.0.0.3, ...): Linux routes all of 127/8 to lo,
so each is a distinct client address to the daemon, as on the internet, while honest senders use 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from threadline.connector.demo.run import demo_config
from threadline.connector.web.push.hubspot_webhooks import signature_v3
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer, free_port
from threadline.sandbox.settings import SandboxSettings

APP_SECRET = "hostile-traffic-app-secret"
EVENTS_TOKEN = "hostile-traffic-events-token"
#: Short timeouts so a slow-client case takes seconds (defaults: 10 s and 20 s).
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Daemon:
    """A running `threadline run`: where it listens, its process, its store."""

    process: subprocess.Popen[bytes]
    port: int
    public_url: str
    store_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """Resident set size of the daemon process, from /proc."""
        resident = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        return resident * PAGE

    def cpu_seconds(self) -> float:
        """User + system CPU time of the daemon process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def store_version(self) -> tuple[int, ...]:
        """Row counts of every table in the store: a write anywhere changes one (or the data below)."""
        with sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return tuple(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)  # noqa: S608

    def store_changes(self) -> int:
        """Total changes committed to the store file (SQLite's file change counter, header bytes 24-27), plus
        the WAL's size: either moves on any committed write."""
        header = self.store_path.read_bytes()[:100]
        wal = self.store_path.with_name(self.store_path.name + "-wal")
        return int.from_bytes(header[24:28], "big") + (wal.stat().st_size if wal.exists() else 0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def signed_webhook(daemon: Daemon, events: list[dict[str, Any]] | None = None) -> tuple[bytes, dict[str, str]]:
    """A genuine HubSpot delivery (signature v3 with the app secret, fresh timestamp)."""
    body = json.dumps(events or [{"subscriptionType": "contact.propertyChange", "objectId": 1,
                                  "propertyName": "email", "eventId": time.time_ns()}]).encode()
    stamp = str(int(time.time() * 1000))
    signature = signature_v3(APP_SECRET, "POST", f"{daemon.public_url}/webhooks/hubspot", body, stamp)
    return body, {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp,
                  "Content-Type": "application/json"}


def forged_headers() -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": "Zm9yZ2VkIHNpZ25hdHVyZQ==", "X-HubSpot-Request-Timestamp":
            str(int(time.time() * 1000)), "Content-Type": "application/json"}


def connect(daemon: Daemon, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """A TCP connection to the daemon from `source` (another loopback address = another client)."""
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=timeout, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_status(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the response on `sock` (the body is left unread)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


def send_until_refused(sock: socket.socket, total: int, piece: bytes) -> int:
    """Send up to `total` bytes of `piece`s; stop when the server stops taking them. Bytes sent."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(piece)
            sent += len(piece)
    except OSError:
        pass
    return sent


def honest_latency(daemon: Daemon) -> dict[str, float]:
    """Seconds for /healthz and for a genuine signed webhook, each on a fresh connection from 127.0.0.1."""
    timings: dict[str, float] = {}
    with httpx.Client(timeout=10) as client:
        started = time.perf_counter()
        assert client.get(f"{daemon.url}/healthz").status_code == 200
        timings["healthz"] = time.perf_counter() - started
        body, headers = signed_webhook(daemon)
        started = time.perf_counter()
        answer = client.post(f"{daemon.url}/webhooks/hubspot", content=body, headers=headers)
        timings["webhook"] = time.perf_counter() - started
        assert answer.status_code == 204, (answer.status_code, answer.text)
    return timings


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def hostile_daemon(tmp_path: Path, **limits: Any) -> Iterator[Daemon]:
    """A sandbox and a `threadline run` against it, ready once its first sync cycle has finished (so the store
    is quiet: the next poll is an hour away)."""
    with SandboxServer(SandboxSettings()) as sandbox:
        owner = sandbox.hubspot.add_owner(DEFAULT_USER, first_name="Rita", last_name="Rep")
        sandbox.hubspot.add_contact("pat@customer.example", owner_id=owner, firstname="Pat")
        seeded = {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(DEFAULT_USER), "owner_id": owner}
        store_path = tmp_path / "store.db"
        config = demo_config(sandbox, f"sqlite:///{store_path}", seeded)
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        config["sync"]["poll_interval"] = "1h"
        config["server"] = {"port": port, "public_url": public_url, "events_token": EVENTS_TOKEN,
                            "unsubscribe_secret": "hostile-traffic-unsubscribe-secret",
                            "limits": {"header_timeout": f"{HEADER_TIMEOUT}s", "body_timeout": f"{BODY_TIMEOUT}s",
                                       **limits}}
        config["push"] = {"hubspot": {"app_secret": APP_SECRET}}
        path = tmp_path / "threadline.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        log_path = tmp_path / "daemon.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "threadline", "run", "--config", str(path)],
                                       stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
        daemon = Daemon(process, port, public_url, store_path, log_path)
        try:
            wait_for(lambda: _up(daemon.url), 60, "the daemon's HTTP server")
            wait_for(lambda: "sync.cycle" in daemon.log() or _first_cycle_done(daemon), 60, "the first sync cycle")
            settle(daemon)
            yield daemon
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _first_cycle_done(daemon: Daemon) -> bool:
    try:
        with sqlite3.connect(f"file:{daemon.store_path}?mode=ro", uri=True) as db:
            return bool(db.execute("SELECT count(*) FROM cursors WHERE last_success_at IS NOT NULL").fetchone()[0])
    except sqlite3.Error:
        return False


def settle(daemon: Daemon, quiet: float = 1.5, within: float = 30.0) -> None:
    """Wait until the store has not changed for `quiet` seconds (the first cycle's writes are done)."""
    deadline = time.monotonic() + within
    last, since = daemon.store_changes(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("the store never went quiet after the first cycle")
        time.sleep(0.2)
        now = daemon.store_changes()
        if now != last:
            last, since = now, time.monotonic()
