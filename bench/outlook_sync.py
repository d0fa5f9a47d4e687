"""Outlook sync benchmark: Graph calls the adapter makes versus the floor, wall time, 429s.

Seeds an N-message mailbox (10% in Sent Items) in the Graph sandbox (over TLS, since
MSAL insists on https), runs the full backfill (delta pages of `--page-size`, MIME by
`$batch` of 20), delivers M new messages for an incremental pass, then an idle pass.
Prints one JSON document.

Graph allows 10,000 requests per 10 minutes per app per mailbox, and every request
inside a `$batch` counts, so a 20,000-message backfill needs at least two windows
(> 10 minutes). `--time-scale S` shrinks the window S times in both the sandbox and the
adapter's limiter (same request budget per window) so the run finishes in seconds;
`min_wall_seconds_at_real_limits` gives what the same calls need against real Graph.

    .venv/bin/python bench/outlook_sync.py                        # 20,000 + 1,000, window 600 s / 100
    .venv/bin/python bench/outlook_sync.py --time-scale 1         # real 10-minute window (slow)
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx

from threadline.adapters.outlook import ClientCredentials, OutlookAdapter
from threadline.adapters.outlook.adapter import LIMIT_HEADROOM
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings

BATCH = 20


def phase(server: SandboxServer, run: Any) -> dict[str, Any]:
    server.stats.reset()
    started = time.monotonic()
    pages = list(run())
    snap = server.stats.snapshot()
    routes = {k.removeprefix("graph "): v for k, v in snap["by_route"].items() if k.startswith("graph ")}
    inner = sum(v for k, v in routes.items() if k != "batch" and k != "messages.delta")
    return {"wall_seconds": round(time.monotonic() - started, 2), "messages": sum(len(p.messages) for p in pages),
            "delta_pages": routes.get("messages.delta", 0), "batch_requests": routes.get("batch", 0),
            "requests_inside_batches": inner, "http_requests": routes.get("messages.delta", 0) + routes.get("batch", 0),
            "graph_requests_counted": routes.get("messages.delta", 0) + inner,
            "throttled_429": snap["throttled"].get("graph", 0), "pages": pages}


def floor(inbox: int, sent: int, page_size: int) -> dict[str, int]:
    """Fewest calls possible: one delta page per page_size (at least one per folder), one $value per message."""
    delta = max(1, math.ceil(inbox / page_size)) + max(1, math.ceil(sent / page_size))
    return {"delta_pages": delta, "batch_requests": math.ceil((inbox + sent) / BATCH),
            "requests_inside_batches": inbox + sent}


def report(result: dict[str, Any], best: dict[str, int], window: float, budget: int) -> dict[str, Any]:
    result.pop("pages")
    counted = result["graph_requests_counted"]
    return {**result, "floor": best,
            "ratio_http_requests_to_floor": round(result["http_requests"] / max(1, sum(
                best[k] for k in ("delta_pages", "batch_requests"))), 3),
            "min_wall_seconds_at_real_limits": (math.ceil(counted / budget) - 1) * 600 if counted else 0,
            "sandbox_window_seconds": window}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=100.0)
    args = parser.parse_args()

    window = 600.0 / args.time_scale
    settings = SandboxSettings(graph_window_seconds=window)
    user = settings.graph_default_user
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(settings, tls_dir=Path(tmp)) as server:
        assert server.tls is not None
        ca = str(server.tls.ca_cert)
        server.graph.seed(user, args.messages, days=20, sent_every=10)
        tokens = ClientCredentials(settings.graph_tenant_id, settings.graph_client_id, settings.graph_client_secret,
                                   authority_host=server.url, verify=ca)
        http = httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=60)
        adapter = OutlookAdapter(user, tokens, base_url=f"{server.url}/v1.0", http=http, window_seconds=window,
                                 page_size=args.page_size)
        sent = len(server.graph.messages(user, "sent"))
        backfill = phase(server, lambda: adapter.pull(None))
        cursor = backfill["pages"][-1].cursor
        for i in range(args.new):
            server.graph.deliver(user, (f"From: buyer{i}@customer.example\r\nTo: {user}\r\nSubject: New {i}\r\n"
                                        f"Date: {formatdate()}\r\nMessage-ID: <new-{i}@customer.example>\r\n\r\n"
                                        f"Reply {i}\r\n").encode(), notify=False)
        incremental = phase(server, lambda: adapter.pull(cursor))
        cursor = incremental["pages"][-1].cursor
        idle = phase(server, lambda: adapter.pull(cursor))
        budget = int(settings.graph_requests_per_window * LIMIT_HEADROOM)
        print(json.dumps({
            "mailbox_messages": args.messages, "page_size": args.page_size, "batch_size": BATCH,
            "time_scale": args.time_scale,
            "backfill": report(backfill, floor(args.messages - sent, sent, args.page_size), window, budget),
            "incremental": report(incremental, floor(args.new, 0, args.page_size), window, budget),
            "idle": {**report(idle, {"delta_pages": 2, "batch_requests": 0, "requests_inside_batches": 0},
                              window, budget), "one_delta_call_per_folder": idle["delta_pages"] == 2},
        }, indent=2))
        adapter.close()


if __name__ == "__main__":
    main()
