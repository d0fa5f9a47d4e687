"""Benchmark: what finding a team's mailboxes from the CRM's owners costs, as the team grows (issue #17).

For teams of N owners (HubSpot owners, and Salesforce Users) in one domain with a Gmail `mailbox_sources` entry,
against the sandbox over real HTTP, on SQLite:

- the owners read on each CRM pull: API calls (HubSpot pages at its maximum of 500 owners, Salesforce's SOQL
  answers 2,000 records a page) and its wall time;
- recording them (found_mailboxes and crm_owners) when nothing changed, the steady state of every pull;
- taking the mailboxes on the first time (one adapter each; no provider call until its first pull) and the
  per-cycle check when nothing changed (one SELECT of the active rows, a set comparison).

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_crm, found_binding
from threadline.connector.wiring.team import TeamDirectory
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.store.database import Store

DOMAIN = "bigco.example"


def settings_for(sandbox: SandboxServer, tmp: Path, crm: str) -> Any:
    account = tmp / "sa.json"
    account.write_text(json.dumps(sandbox.gmail.register_service_account(sandbox.url)))
    s = sandbox.settings
    crm_config: dict[str, Any] = ({"kind": "hubspot", "base_url": sandbox.url, "token": s.hubspot_token,
                                   "search_index_lag": "0s"} if crm == "hubspot" else
                                  {"kind": "salesforce", "login_url": sandbox.url, "consumer_key": s.salesforce_consumer_key,
                                   "client_secret": s.salesforce_consumer_secret,
                                   "refresh_token": s.salesforce_refresh_token})
    return parse_settings({"store": {"url": f"sqlite:///{tmp / f'{crm}.db'}"}, "crm": crm_config,
                           "mailbox_sources": [{"kind": "gmail", "domains": [DOMAIN], "base_url": sandbox.url,
                                                "token_uri": f"{sandbox.url}/token",
                                                "service_account_file": str(account)}]},
                          tmp / "t.yaml", env={})


def measure(sandbox: SandboxServer, tmp: Path, crm: str, owners: int, repeats: int) -> dict[str, Any]:
    for i in range(owners):
        address = f"rep{i:05d}@{DOMAIN}"
        if crm == "hubspot":
            sandbox.hubspot.add_owner(address, first_name=f"Rep{i}")
        else:
            sandbox.salesforce.add_user(address, first_name=f"Rep{i}", email=address)
    settings = settings_for(sandbox, tmp, crm)
    store = Store(settings.store.url)
    adapter = build_crm(settings)
    directory = TeamDirectory(settings, store, lambda s, row: found_binding(s, row))
    adapter.list_owners()                       # sign-in (Salesforce's token) outside the measured reads
    reads, records, checks, calls_per_read = [], [], [], []
    for _ in range(repeats):
        before = int(sandbox.stats.requests[crm])
        started = time.perf_counter()
        listed = adapter.list_owners()
        reads.append(time.perf_counter() - started)
        calls_per_read.append(int(sandbox.stats.requests[crm]) - before)
        started = time.perf_counter()
        directory.owners_seen(listed)
        records.append(time.perf_counter() - started)
    calls = max(calls_per_read)
    started = time.perf_counter()
    added, _ = directory.changes(set())
    take_on = time.perf_counter() - started
    current = {b.adapter.address for b in added}
    for _ in range(repeats):
        started = time.perf_counter()
        directory.changes(current)
        checks.append(time.perf_counter() - started)
    for binding in added:
        binding.adapter.close()
    store.dispose()
    return {"owners": owners, "listed": len(listed), "found": len(added), "owners_read_calls": calls,
            "owners_read_ms": round(statistics.median(reads) * 1000, 1),
            "record_unchanged_ms": round(statistics.median(records[1:] or records) * 1000, 1),
            "take_on_ms": round(take_on * 1000, 1),
            "take_on_ms_per_mailbox": round(take_on * 1000 / max(1, len(added)), 2),
            "unchanged_check_ms": round(statistics.median(checks) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", default="50,500,2000", help="comma-separated team sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(n) for n in args.owners.split(",")]
    results: dict[str, list[dict[str, Any]]] = {"hubspot": [], "salesforce": []}
    for crm in results:
        for owners in sizes:
            # A rate limit high enough that the figures are our cost, not the sandbox's throttle.
            with tempfile.TemporaryDirectory() as tmp, SandboxServer(SandboxSettings(
                    hubspot_requests_per_10s=100_000)) as sandbox:
                results[crm].append(measure(sandbox, Path(tmp), crm, owners, args.repeats))
    largest = {crm: rows[-1] for crm, rows in results.items()}
    print(json.dumps({"sizes": sizes, "by_crm": results, "largest": largest}, indent=1))


if __name__ == "__main__":
    main()
