"""Benchmark: a full Salesforce backfill of Contacts and Leads through the adapter against the simulator.

The simulator runs in a child process (seeded with N records, half Contacts, half
Leads), so the peak RSS reported is the adapter's own. The floor is one query page
per 2,000 records per object (0.5 calls per 1,000 records) plus the token request.
Prints one JSON object.

    .venv/bin/python bench/salesforce_backfill.py --records 100000
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.child import peak_rss_mb
from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm

PAGE = 2000


def serve(records: int, key_file: str) -> None:
    """Child process: start the sandbox, seed it, write the app's key, print its URL, run until stdin closes."""
    from threadline.sandbox.server import SandboxServer

    server = SandboxServer().start()
    server.salesforce.seed(records)
    app = server.salesforce.default_app
    Path(key_file).write_bytes(app.private_key_pem)
    print(server.url, app.consumer_key, app.username, flush=True)
    sys.stdin.read()
    server.stop()


def run(records: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        key_file = str(Path(tmp) / "key.pem")
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(records), "--key-file", key_file],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            url, consumer_key, username = (child.stdout.readline().split() if child.stdout else ["", "", ""])
            with httpx.Client(timeout=60) as http:
                grant = JwtBearerGrant(consumer_key, username, Path(key_file).read_bytes(), login_url=url)
                crm = SalesforceCrm(http, grant)
                started, seen, pages = time.monotonic(), set(), 0
                for page in crm.pull_contacts(None):
                    seen.update(c.id for c in page.contacts)
                    pages += 1
                wall = time.monotonic() - started
                stats = http.get(f"{url}/_sandbox/stats").json()
        finally:
            if child.stdin:
                child.stdin.close()
            child.wait(timeout=60)
    by_route = {k.removeprefix("salesforce "): v for k, v in stats["by_route"].items() if k.startswith("salesforce")}
    api_calls = sum(v for k, v in by_route.items() if "oauth2" not in k)
    per_object = max(1, len(seen) // 2)
    floor_calls = 2 * math.ceil(per_object / PAGE)
    return {
        "records": len(seen),
        "api_calls": api_calls,
        "token_requests": by_route.get("POST oauth2/token", 0),
        "calls_by_route": by_route,
        "calls_per_1000": round(api_calls * 1000 / max(1, len(seen)), 3),
        "calls_per_1000_floor": round(floor_calls * 1000 / max(1, len(seen)), 3),
        "floor_calls_pages_of_2000": floor_calls,
        "pages_yielded": pages,
        "daily_api_usage_after": list(crm.api_usage or ()),
        "wall_seconds": round(wall, 2),
        "records_per_second": round(len(seen) / wall) if wall else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.key_file)
        return
    print(json.dumps(run(args.records), indent=2))


if __name__ == "__main__":
    main()
