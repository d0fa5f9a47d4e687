"""Benchmark: one replica pulling a whole organisation's Gmail mailboxes at once (issue #18, "Concurrency").

Two cases, against the sandbox over real HTTP with 50 ms per request (SandboxSettings.request_latency_ms), on
SQLite, every mailbox signed in through one service account (one Google Cloud project):

- backfill: N mailboxes x M messages (10% of them from known HubSpot contacts). The wall time of the first
  cycle is compared with the larger of two floors: the per-project quota floor (the quota units the run spent
  at Gmail's 1,200,000 units a minute) and the CPU floor (messages x the CPU one message costs, measured in the
  same run by pulling a few mailboxes one at a time first);
- idle poll: N mailboxes with nothing new, no push: the wall time of one full cycle and the Gmail calls it
  made per mailbox (the floor is one history.list each).

The sandbox runs in a child process, so the CPU measured is Threadline's own. Prints one JSON document.

    .venv/bin/python -m bench.org_mailboxes --backfill-mailboxes 500 --messages 200 --idle-mailboxes 2000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from threadline.config.loading import parse_settings
from threadline.connector.monitoring.logs import configure_logging
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.engine import SyncEngine, mailbox_source

DOMAIN = "bigco.example"
PROJECT_UNITS_PER_MINUTE = 1_200_000
CONTACTS = 20            # contact<i>@customer<i>.example for i < 20: messages 0-19 of every mailbox match one
CALIBRATION_MAILBOXES = 4


def rep(i: int) -> str:
    return f"rep{i:05d}@{DOMAIN}"


def serve(conn: Connection, mailboxes: int, messages: int, latency_ms: float) -> None:
    """The child process: a seeded sandbox until the parent says stop."""
    with SandboxServer(SandboxSettings(request_latency_ms=latency_ms, hubspot_requests_per_10s=100_000)) as sandbox:
        for i in range(CONTACTS):
            sandbox.hubspot.add_contact(f"contact{i}@customer{i}.example", firstname=f"Buyer{i}")
        for i in range(mailboxes):
            sandbox.gmail.seed(rep(i), messages, days=20.0)
        conn.send((sandbox.url, sandbox.gmail.register_service_account(sandbox.url)))
        conn.recv()


class Sandbox:
    """The sandbox child process and what the parent reads from it (over HTTP, like any client)."""

    def __init__(self, mailboxes: int, messages: int, latency_ms: float) -> None:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(child, mailboxes, messages, latency_ms), daemon=True)
        self._process.start()
        self.url, self.account = self._conn.recv()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/stats", timeout=30).json())

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(30)


def engine_for(sandbox: Sandbox, tmp: Path, mailboxes: int, concurrency: int | None) -> SyncEngine:
    account = tmp / "service-account.json"
    account.write_text(json.dumps(sandbox.account))
    box = {"kind": "gmail", "base_url": sandbox.url, "token_uri": f"{sandbox.url}/token",
           "service_account_file": str(account)}
    sync: dict[str, Any] = {"internal_domains": [DOMAIN], "backfill_days": 30}
    if concurrency:
        sync["mailbox_concurrency"] = concurrency
    settings = parse_settings({"store": {"url": f"sqlite:///{tmp / 'org.db'}"},
                               "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": SandboxSettings.hubspot_token,
                                       "search_index_lag": "0s", "requests_per_10s": 100_000},
                               "mailboxes": [{**box, "address": rep(i)} for i in range(mailboxes)],
                               "sync": sync}, tmp / "threadline.yaml", env={})
    return build_engine(settings)


def gmail_calls(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    routes = {k: v - before["by_route"].get(k, 0) for k, v in after["by_route"].items() if k.startswith("gmail ")}
    return {k.removeprefix("gmail "): v for k, v in routes.items() if v}


def backfill(mailboxes: int, messages: int, latency_ms: float, concurrency: int | None) -> dict[str, Any]:
    sandbox = Sandbox(mailboxes, messages, latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engine = engine_for(sandbox, Path(tmp), mailboxes, concurrency)
            try:
                engine.run_once(only={"crm"}, drain=False)            # schema check and contacts, outside the timing
                # CPU per message: a few mailboxes pulled one at a time on this thread, in this run.
                workers, engine.mailbox_concurrency = engine.mailbox_concurrency, 1
                first = {mailbox_source(rep(i)) for i in range(CALIBRATION_MAILBOXES)}
                cpu = time.process_time()
                calibration = engine.run_once(only=first, drain=False)
                cpu_per_message = (time.process_time() - cpu) / max(1, calibration.pulled)
                engine.mailbox_concurrency = workers
                before = sandbox.stats()
                started, cpu = time.monotonic(), time.process_time()
                summary = engine.run_once(drain=False)
                wall, cpu_used = time.monotonic() - started, time.process_time() - cpu
                after = sandbox.stats()
            finally:
                engine.close()
                engine.store.dispose()
    finally:
        sandbox.close()
    units = after["units"].get("gmail", 0) - before["units"].get("gmail", 0)
    quota_floor = units / PROJECT_UNITS_PER_MINUTE * 60
    cpu_floor = summary.pulled * cpu_per_message
    return {"mailboxes": mailboxes, "messages_per_mailbox": messages, "concurrency": workers,
            "messages": summary.pulled, "matched": summary.matched, "errors": len(summary.errors),
            "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu_used, 2),
            "cpu_ms_per_message": round(cpu_per_message * 1000, 3), "units": units,
            "quota_floor_seconds": round(quota_floor, 2), "cpu_floor_seconds": round(cpu_floor, 2),
            "floor_seconds": round(max(quota_floor, cpu_floor), 2),
            "throttled_429": after["throttled"].get("gmail", 0) - before["throttled"].get("gmail", 0),
            "calls": gmail_calls(before, after)}


def idle_poll(mailboxes: int, latency_ms: float, concurrency: int | None) -> dict[str, Any]:
    sandbox = Sandbox(mailboxes, 0, latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engine = engine_for(sandbox, Path(tmp), mailboxes, concurrency)
            try:
                engine.run_once(drain=False)           # the first sync: cursors (history ids) for every mailbox
                before = sandbox.stats()
                started = time.monotonic()
                summary = engine.run_once(drain=False)
                wall = time.monotonic() - started
                after = sandbox.stats()
            finally:
                engine.close()
                engine.store.dispose()
            workers = engine.mailbox_concurrency
    finally:
        sandbox.close()
    calls = gmail_calls(before, after)
    return {"mailboxes": mailboxes, "concurrency": workers, "pulled_mailboxes": len(summary.mailboxes),
            "errors": len(summary.errors), "cycle_seconds": round(wall, 2),
            "latency_floor_seconds": round(mailboxes * latency_ms / 1000 / workers, 2),
            "ms_per_mailbox": round(wall * 1000 / max(1, mailboxes), 2),
            "calls": calls, "calls_per_mailbox": round(sum(calls.values()) / max(1, mailboxes), 3),
            "throttled_429": after["throttled"].get("gmail", 0) - before["throttled"].get("gmail", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backfill-mailboxes", type=int, default=500)
    parser.add_argument("--messages", type=int, default=200, help="messages per mailbox in the backfill case")
    parser.add_argument("--idle-mailboxes", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=0, help="sync.mailbox_concurrency (0: the default)")
    args = parser.parse_args()
    configure_logging(level="WARNING", json=True)      # to stderr, as the daemon logs; stdout is the JSON
    result = {"latency_ms": args.latency_ms,
              "backfill": backfill(args.backfill_mailboxes, args.messages, args.latency_ms, args.concurrency),
              "idle": idle_poll(args.idle_mailboxes, args.latency_ms, args.concurrency)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
