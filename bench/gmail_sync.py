"""Gmail sync benchmark: quota units and calls the adapter spends versus the floor the quota table implies.

Seeds an N-message mailbox in the sandbox, runs the full backfill, delivers M new
messages and runs an incremental pass, then an idle pass. Prints one JSON document.

    .venv/bin/python bench/gmail_sync.py                 # 20,000 + 1,000 at Gmail's real 15,000 units/min
    .venv/bin/python bench/gmail_sync.py --messages 2000 --new 100 --units-per-minute 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from email.utils import formatdate
from typing import Any

from threadline.adapters.gmail import GmailAdapter, from_refresh_token
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings

LIST_PAGE, HISTORY_PAGE = 500, 500
COST = {"list": 5, "get": 5, "history": 2, "profile": 1}


def phase(server: SandboxServer, run: Any) -> dict[str, Any]:
    server.stats.reset()
    started = time.monotonic()
    pages = list(run())
    snap = server.stats.snapshot()
    routes = {k.removeprefix("gmail "): v for k, v in snap["by_route"].items() if k.startswith("gmail ")}
    return {"pages": pages, "wall_seconds": round(time.monotonic() - started, 2),
            "http_requests": sum(routes.values()),
            "api_calls": sum(v for k, v in routes.items() if k != "batch"),
            "calls_by_route": routes, "units": snap["units"].get("gmail", 0),
            "throttled_429": snap["throttled"].get("gmail", 0),
            "messages": sum(len(p.messages) for p in pages)}


def report(result: dict[str, Any], floor: int) -> dict[str, Any]:
    result.pop("pages")
    return {**result, "floor_units": floor, "ratio": round(result["units"] / floor, 3) if floor else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="seeded mailbox size")
    parser.add_argument("--new", type=int, default=1_000, help="messages delivered before the incremental pass")
    parser.add_argument("--units-per-minute", type=int, default=15_000, help="per-user quota (sandbox and limiter)")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()

    settings = SandboxSettings(gmail_user_units_per_minute=args.units_per_minute)
    with SandboxServer(settings) as server:
        server.gmail.seed(DEFAULT_USER, args.messages, days=20, sent_every=10)
        creds = from_refresh_token(settings.google_client_id, settings.google_client_secret,
                                   settings.google_refresh_token, token_uri=f"{server.url}/token")
        adapter = GmailAdapter(DEFAULT_USER, creds, base_url=server.url, units_per_minute=args.units_per_minute,
                               batch_size=args.batch_size)
        adapter.check()                                       # token minted outside the measured phases
        backfill = phase(server, lambda: adapter.pull(None))
        cursor = backfill["pages"][-1].cursor
        for i in range(args.new):
            server.gmail.deliver(DEFAULT_USER, (f"From: new{i}@customer.example\r\nTo: {DEFAULT_USER}\r\n"
                                                f"Subject: New {i}\r\nDate: {formatdate()}\r\n"
                                                f"Message-ID: <new{i}@customer.example>\r\n\r\nHi {i}\r\n").encode())
        incremental = phase(server, lambda: adapter.pull(cursor))
        idle = phase(server, lambda: adapter.pull(incremental["pages"][-1].cursor))
        adapter.close()

    list_pages = max(1, math.ceil(args.messages / LIST_PAGE))
    history_pages = max(1, math.ceil(args.new / HISTORY_PAGE))
    print(json.dumps({
        "mailbox_messages": args.messages, "new_messages": args.new, "units_per_minute": args.units_per_minute,
        "batch_size": args.batch_size,
        "backfill": report(backfill, COST["profile"] + list_pages * COST["list"] + args.messages * COST["get"]),
        "incremental": report(incremental, history_pages * COST["history"] + args.new * COST["get"]),
        "idle": {**report(idle, COST["history"]), "idle_calls_ok": idle["api_calls"] == 1},
    }, indent=2))


if __name__ == "__main__":
    main()
