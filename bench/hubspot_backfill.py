"""Benchmark: a full HubSpot contact backfill through the adapter against the simulator.

The simulator runs in a child process (seeded with N contacts, HubSpot's default
limits: 190 requests / 10 s, 5 searches / s), so the peak RSS reported is the
adapter's own. Prints one JSON object.

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
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from threadline.adapters.hubspot import HubSpotCrm
from threadline.sandbox.settings import SandboxSettings


def serve(contacts: int) -> None:
    """Child process: start the sandbox, seed it, print its URL, run until stdin closes."""
    from threadline.sandbox.server import SandboxServer

    server = SandboxServer(SandboxSettings()).start()
    server.hubspot.seed_contacts(contacts)
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


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


def run(contacts: int, searches_per_second: float, peer: str | None = None) -> dict[str, object]:
    settings = SandboxSettings()
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(contacts)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().strip() if child.stdout else ""
        with httpx.Client(base_url=url, timeout=30) as http:
            crm = HubSpotCrm(http, token=settings.hubspot_token, searches_per_second=searches_per_second)
            started, seen = time.monotonic(), set()
            for page in crm.pull_contacts(None):
                seen.update(c.id for c in page.contacts)
            wall = time.monotonic() - started
            stats = http.get("/_sandbox/stats").json()
            # Before the peer runs: this process then holds the tap's output and that is not the adapter's.
            peak_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            ours: dict[str, object] = {"contacts": len(seen), "wall_seconds": wall,
                                       "api_calls": stats["requests"].get("hubspot", 0)}
            peer_result = run_peer(http, url, settings.hubspot_token, ours) if peer else None
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    calls = stats["requests"].get("hubspot", 0)
    search_floor = window_floor(calls, crm.search_limiter.capacity, 1.0)
    return {
        "contacts": len(seen),
        "api_calls": calls,
        "calls_per_1000": round(calls * 1000 / max(1, len(seen)), 2),
        "calls_per_1000_floor_200_per_page": 5.0,
        "calls_per_1000_floor_100_per_page": 10.0,
        "wall_seconds": round(wall, 2),
        "rate_limit_floor_seconds_190_per_10s": window_floor(calls, settings.hubspot_requests_per_10s, 10.0),
        "searches_per_second_configured": searches_per_second,
        "search_limit_floor_seconds_at_configured_rate": search_floor,
        "search_limit_floor_seconds_at_hubspot_5_per_s": window_floor(calls, settings.hubspot_search_per_second, 1.0),
        "ratio_wall_to_configured_floor": round(wall / search_floor, 3) if search_floor else None,
        "ratio_wall_to_hubspot_5_per_s_floor": round(
            wall / window_floor(calls, settings.hubspot_search_per_second, 1.0), 3),
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
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    print(json.dumps(run(args.contacts, args.searches_per_second, args.peer), indent=2))


if __name__ == "__main__":
    main()
