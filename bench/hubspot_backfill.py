"""Benchmark: a full HubSpot contact backfill through the adapter against the simulator.

The simulator runs in a child process (seeded with N contacts, HubSpot's default
limits: 190 requests / 10 s with searches counted in them, 5 searches / s, and 50 ms
of latency per request), so the peak RSS reported is the adapter's own. The floor is
the least time those limits allow when list calls (100 a page) and searches (200 a
page) share the window: 41.7 s for 100,000 contacts. Prints one JSON object.

With `--peer tap-hubspot`, the same sandbox then serves the same contacts to a public peer,
MeltanoLabs' Singer tap (bench/peer_tap_hubspot.py), after one full 10-second limit window has
passed; its calls come from the sandbox's counters and the ratios compare it with Threadline.

    .venv/bin/python bench/hubspot_backfill.py --contacts 100000
    .venv/bin/python bench/hubspot_backfill.py --contacts 100000 --peer tap-hubspot
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from array import array
from pathlib import Path

import httpx

from bench.child import peak_rss_mb
from threadline.adapters.hubspot import HubSpotCrm
from threadline.sandbox.settings import SandboxSettings


def serve(contacts: int, latency_ms: float) -> None:
    """Child process: start the sandbox, seed it, print its URL, run until stdin closes."""
    from threadline.sandbox.server import SandboxServer

    server = SandboxServer(SandboxSettings(request_latency_ms=latency_ms)).start()
    server.hubspot.seed_contacts(contacts)
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


def two_endpoint_floor(contacts: int, settings: SandboxSettings) -> float:
    """Least time to read `contacts` when searches (200 a page, at most `search_per_second`) and list calls
    (100 a page) share the ten-second window: per window, 5 x 10 searches and 190 - 50 list calls, i.e.
    24,000 contacts at HubSpot's defaults; 100,000 contacts take 41.7 s."""
    window = settings.hubspot_rate_window_seconds
    searches = settings.hubspot_search_per_second * window
    per_window = searches * 200 + (settings.hubspot_requests_per_10s - searches) * 100
    return round(contacts / per_window * window, 2)


def window_floor(calls: int, capacity: float, window: float) -> float:
    """Least time from the first to the last of `calls` requests when any `window` seconds hold at most
    `capacity` of them: request k (0-based) cannot leave before floor(k / capacity) * window."""
    return 0.0 if calls <= 0 else math.floor((calls - 1) / capacity) * window


def run_peer(http: httpx.Client, url: str, token: str, ours: dict[str, object]) -> dict[str, object]:
    """The tap's full extract against the same sandbox; its calls are the sandbox's count, by route."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))      # run as a script, bench/ is not on it
    from bench.peer_tap_hubspot import PeerUnavailable, extract

    time.sleep(10.0)                        # the 190-per-10-s window the backfill used has fully passed
    before = http.get("/_sandbox/stats").json()
    try:
        peer = extract(url, token)
    except PeerUnavailable as exc:
        return {"skipped": str(exc)}
    after = http.get("/_sandbox/stats").json()
    routes = {k.removeprefix("hubspot "): v - before["by_route"].get(k, 0) for k, v in after["by_route"].items()
              if k.startswith("hubspot ") and v != before["by_route"].get(k, 0)}
    calls = sum(routes.values())
    return {**peer, "api_calls": calls, "calls_by_route": routes,
            "calls_per_1000": round(calls * 1000 / max(1, int(peer["contacts"])), 2),
            "rate_limit_floor_seconds_190_per_10s": window_floor(calls, SandboxSettings().hubspot_requests_per_10s, 10.0),
            "throttled_429s": after["throttled"].get("hubspot", 0) - before["throttled"].get("hubspot", 0),
            "same_contacts": peer["contacts"] == ours["contacts"],
            "ratio_wall_peer_to_threadline": round(float(peer["wall_seconds"]) / float(ours["wall_seconds"]), 3),
            "ratio_calls_peer_to_threadline": round(calls / max(1, int(ours["api_calls"])), 3)}


def run(contacts: int, searches_per_second: float, peer: str | None = None,
        latency_ms: float = 50.0) -> dict[str, object]:
    settings = SandboxSettings(request_latency_ms=latency_ms)
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(contacts), "--latency-ms", str(latency_ms)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().strip() if child.stdout else ""
        with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=8)) as http:
            crm = HubSpotCrm(http, token=settings.hubspot_token, searches_per_second=searches_per_second)
            # Ids as 8-byte ints, checked for repeats at the end: a set of a million strings would be most
            # of the RSS measured, and it is the benchmark's bookkeeping, not the adapter's.
            started, seen, pages = time.monotonic(), array("q"), 0
            for page in crm.pull_contacts(None):
                seen.extend(int(c.id) for c in page.contacts if c.merged_into is None)
                pages += 1
            wall = time.monotonic() - started
            stats = http.get("/_sandbox/stats").json()
            # Before the peer runs: this process then holds the tap's output and that is not the adapter's.
            peak_rss = peak_rss_mb()
            distinct = len(set(seen))
            ours: dict[str, object] = {"contacts": distinct, "wall_seconds": wall,
                                       "api_calls": stats["requests"].get("hubspot", 0)}
            peer_result = run_peer(http, url, settings.hubspot_token, ours) if peer else None
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=60)
    calls = stats["requests"].get("hubspot", 0)
    by_route = stats.get("by_route", {})
    floor = two_endpoint_floor(contacts, settings)
    return {
        "contacts": distinct,
        "contacts_read_twice": len(seen) - distinct,
        "sandbox_latency_ms": latency_ms,
        "api_calls": calls,
        "list_calls": by_route.get("hubspot GET list", 0),
        "search_calls": by_route.get("hubspot POST search", 0),
        "calls_per_1000": round(calls * 1000 / max(1, distinct), 2),
        "wall_seconds": round(wall, 2),
        "floor_seconds_list_and_search": floor,
        "ratio_wall_to_floor": round(wall / floor, 3) if floor else None,
        "rate_limit_floor_seconds_190_per_10s": window_floor(calls, settings.hubspot_requests_per_10s, 10.0),
        "searches_per_second_configured": searches_per_second,
        "throttled_429s": stats["throttled"].get("hubspot", 0),
        "peak_rss_mb": peak_rss,
        **({"peer_tap_hubspot": peer_result} if peer_result is not None else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--searches-per-second", type=float, default=4.0,
                        help="the adapter's search limit (threadline.yaml crm.search_per_second; default 4)")
    parser.add_argument("--peer", choices=["tap-hubspot"], help="also run this public peer on the same contacts")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency per request (default 50)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.latency_ms)
        return
    print(json.dumps(run(args.contacts, args.searches_per_second, args.peer, args.latency_ms), indent=2))


if __name__ == "__main__":
    main()
