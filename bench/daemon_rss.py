"""Benchmark: the daemon's peak RSS with a large mirror and a large team (issue #18).

Seeds a SQLite store with N contacts mirrored (one `contact.created` event each, so the first rules step has every
contact to decide: the first rules pass after the first CRM pull) and registers M Gmail mailboxes in the sandbox.
A fresh child process (`--daemon`) then builds the engine from a config with the M mailboxes, the HubSpot sandbox
and the points model + tier routing, and runs a few cycles (`SyncEngine.run_once`: every mailbox pulled, the CRM
pulled, the rules step, the outbox). The sandbox and the seeding stay in the parent, so the peak RSS reported is
the daemon's alone. Target: < 500 MB with 1,000,000 contacts and 2,000 mailboxes. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.child import peak_rss_mb
from bench.plan_100k import ROOT, rules_settings, seed
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.store.database import Store

TARGET_MB = 500


def config(sandbox: SandboxServer, url: str, mailboxes: int) -> dict[str, Any]:
    s = sandbox.settings
    boxes = []
    for n in range(mailboxes):
        address = f"rep{n:05d}@bigco.example"
        boxes.append({"kind": "gmail", "address": address, "base_url": sandbox.url,
                      "token_uri": f"{sandbox.url}/token", "client_id": s.google_client_id,
                      "client_secret": s.google_client_secret,
                      "refresh_token": sandbox.gmail.oauth.issue_refresh_token(address)})
    return {"store": {"url": url}, "mailboxes": boxes, "sync": {"internal_domains": ["bigco.example"]},
            "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": s.hubspot_token, "search_index_lag": "0s"},
            "rules": rules_settings().model_dump(mode="json", exclude_none=True)}


def daemon(config_file: Path, cycles: int) -> dict[str, Any]:
    """The measured part, in a fresh process: build the engine as `threadline run` does and run `cycles` cycles."""
    from threadline.config.loading import parse_settings
    from threadline.connector.wiring.build import build_engine

    settings = parse_settings(json.loads(config_file.read_text()), config_file, env={})
    started = time.perf_counter()
    engine = build_engine(settings)
    built_mb = peak_rss_mb()
    walls, errors = [], 0
    try:
        for _ in range(cycles):
            cycle = time.perf_counter()
            summary = engine.run_once()
            walls.append(round(time.perf_counter() - cycle, 1))
            errors += len(summary.errors)
    finally:
        engine.close()
    with Store(settings.store.url).session() as session:
        from sqlmodel import func, select

        from threadline.sync.store.tables import RuleDueRow
        due = session.exec(select(func.count()).select_from(RuleDueRow)).one()
    return {"mailboxes": len(settings.mailboxes), "cycles": cycles, "cycle_wall_seconds": walls, "errors": errors,
            "rules_due_rows": int(due), "build_seconds": round(time.perf_counter() - started - sum(walls), 1),
            "rss_after_build_mb": built_mb,
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--mailboxes", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--daemon", metavar="CONFIG", help=argparse.SUPPRESS)    # the child's part
    args = parser.parse_args()
    if args.daemon:
        print(json.dumps(daemon(Path(args.daemon), args.cycles)))
        return
    now = datetime.now(UTC)
    # Limits high enough that the figures are our memory, not the sandbox's throttle.
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(SandboxSettings(
            hubspot_requests_per_10s=100_000, gmail_user_units_per_minute=1_000_000)) as sandbox:
        url = f"sqlite:///{tmp}/daemon.db"
        started = time.perf_counter()
        seed(Store(url), args.contacts, 1, now)
        seeded = time.perf_counter() - started
        config_file = Path(tmp) / "threadline.json"
        config_file.write_text(json.dumps(config(sandbox, url, args.mailboxes)))
        child = subprocess.run([sys.executable, "-m", "bench.daemon_rss", "--daemon", str(config_file),
                                "--cycles", str(args.cycles)], capture_output=True, text=True, cwd=ROOT)
        if child.returncode != 0:
            raise SystemExit(f"the daemon failed ({child.returncode}): {child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({"benchmark": "daemon_rss", "contacts": args.contacts, **result, "target_rss_mb": TARGET_MB,
                      "meets_target": result["peak_rss_mb"] < TARGET_MB, "seed_seconds": round(seeded, 1),
                      "measured": "a fresh child process building the engine and running the cycles; the sandbox "
                                  "and the seeding are in the parent"}, indent=2))


if __name__ == "__main__":
    main()
