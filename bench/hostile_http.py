"""Benchmark: the public HTTP surface under hostile traffic (issue #21).

Starts a real `threadline run` on loopback (tests/security/hostile_world.py: its own sandbox, webhooks, /events
and unsubscribe on, header and body timeouts of 2 s) and attacks it as tests/security/test_hostile_traffic.py does,
at larger sizes, from other loopback addresses (127.0.0.2...: distinct clients to the daemon). For each attack it
records the latency of honest requests from 127.0.0.1 while the attack runs (p50/p95 of `/healthz` and of a
genuine signed HubSpot webhook), and the daemon's RSS before and after; for oversized bodies, how long the 413
took; for the bad-signature floods, the daemon's CPU per refused request and whether the store changed.
Prints JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.security.hostile_world import (
    Daemon,
    connect,
    forged_headers,
    honest_latency,
    hostile_daemon,
    read_status,
    request_head,
    send_until_refused,
    settle,
)

MB = 1024 * 1024


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "samples": len(ordered)}


def honest_under(daemon: Daemon, samples: int) -> dict[str, dict[str, float]]:
    """`samples` rounds of /healthz + a signed webhook, 50 ms apart; p50/p95 of each."""
    healthz, webhook = [], []
    for _ in range(samples):
        timings = honest_latency(daemon)
        healthz.append(timings["healthz"])
        webhook.append(timings["webhook"])
        time.sleep(0.05)
    return {"healthz": percentiles(healthz), "webhook": percentiles(webhook)}


def under_attack(daemon: Daemon, samples: int, attack: Callable[[threading.Event], object],
                 workers: int = 1) -> dict[str, Any]:
    """Run `attack` in `workers` threads until the honest samples are taken; RSS before and after."""
    stop = threading.Event()
    rss_before = daemon.rss_bytes()
    threads = [threading.Thread(target=attack, args=(stop,), daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)             # let the attack get going
    peak = daemon.rss_bytes()
    honest = honest_under(daemon, samples)
    peak = max(peak, daemon.rss_bytes())
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return {"honest": honest, "rss_before_mb": round(rss_before / MB, 1), "rss_peak_mb": round(peak / MB, 1),
            "rss_after_mb": round(daemon.rss_bytes() / MB, 1)}


def oversized(daemon: Daemon, source: str) -> tuple[float, int]:
    """One 300 MB unsigned webhook with Content-Length: seconds to the 413, bytes the server took."""
    with connect(daemon, source) as sock:
        started = time.perf_counter()
        sock.sendall(request_head("POST", "/webhooks/hubspot", {**forged_headers(), "Content-Length": str(300 * MB)}))
        status, _ = read_status(sock)
        took = time.perf_counter() - started
        sent = send_until_refused(sock, 300 * MB, b"x" * 65536)
    assert status == 413, status
    return took, sent


def chunked_oversized(daemon: Daemon, source: str) -> int:
    """One endless chunked upload: bytes sent before the server refused it."""
    with connect(daemon, source) as sock:
        sock.sendall(request_head("POST", "/webhooks/hubspot", {**forged_headers(), "Transfer-Encoding": "chunked"}))
        sent = send_until_refused(sock, 300 * MB, b"%x\r\n%s\r\n" % (65536, b"x" * 65536))
        status, _ = read_status(sock)
    assert status == 413, status
    return sent


def run(samples: int, uploads: int, loris: int, idle: int, flood: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, hostile_daemon(Path(tmp)) as daemon:
        out: dict[str, Any] = {"samples": samples, "rss_start_mb": round(daemon.rss_bytes() / MB, 1)}
        out["baseline"] = under_attack(daemon, samples, lambda stop: stop.wait())

        # 1. Oversized bodies: `uploads` 300 MB uploads at once, Content-Length and chunked, again and again.
        times: list[float] = []
        taken: list[int] = []
        lock = threading.Lock()
        counter = iter(range(10**9))

        def upload(stop: threading.Event) -> None:
            while not stop.is_set():
                source = f"127.0.1.{next(counter) % 250 + 1}"      # many attackers, below the failure limit each
                took, sent = oversized(daemon, source)
                chunked = chunked_oversized(daemon, source)
                with lock:
                    times.append(took)
                    taken.extend([sent, chunked])

        settle(daemon)
        before = daemon.rss_bytes()
        out["oversized"] = under_attack(daemon, samples, upload, workers=uploads)
        out["oversized"].update({
            "uploads_at_once": uploads, "refused": len(times),
            "time_to_413": percentiles(times), "rss_growth_mb": round((daemon.rss_bytes() - before) / MB, 2),
            "most_bytes_sent_before_refusal_mb": round(max(taken) / MB, 2)})

        # 2. Slow-loris: `loris` connections sending a header byte each every 0.3 s.
        def slow_loris(stop: threading.Event) -> None:
            socks = []
            for n in range(loris):
                sock = connect(daemon, f"127.0.2.{n % 250 + 1}")
                sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(sock)
            while not stop.wait(0.3):
                for n, sock in enumerate(socks):
                    try:
                        sock.send(b"X")
                    except OSError:         # closed at the header deadline: the attacker reconnects
                        sock.close()
                        socks[n] = connect(daemon, f"127.0.2.{n % 250 + 1}")
                        socks[n].sendall(b"POST /webhooks/hubspot HTTP/1.1\r\n")
            for sock in socks:
                sock.close()

        out["slow_loris"] = under_attack(daemon, samples, slow_loris) | {"connections": loris}

        # 3. Idle connections: `idle` sockets that never send a byte (re-opened as the server closes them).
        def idle_sockets(stop: threading.Event) -> None:
            socks = [connect(daemon, f"127.0.3.{n % 250 + 1}") for n in range(idle)]
            stop.wait()
            for sock in socks:
                sock.close()

        out["idle"] = under_attack(daemon, samples, idle_sockets) | {"connections": idle}

        # 4. Bad signatures: `flood` requests over keep-alive from one address (ends in 429), then the same from
        # many addresses each below the failure limit (every one verified and refused 401).
        for name, addresses in (("flood_one_address", 1), ("flood_many_addresses", max(1, flood // 25))):
            settle(daemon)
            store_before, changes_before = daemon.store_version(), daemon.store_changes()
            cpu_before, started = daemon.cpu_seconds(), time.perf_counter()
            statuses: Counter[int] = Counter()

            def bad(stop: threading.Event, addresses: int = addresses, statuses: Counter[int] = statuses) -> None:
                seen: Counter[int] = Counter()
                per_address = max(1, flood // addresses)
                for a in range(addresses):
                    source = f"127.{4 + (a // 62500)}.{(a // 250) % 250}.{a % 250 + 1}" if addresses > 1 \
                        else "127.0.4.1"
                    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10,
                                                      source_address=(source, 0))
                    for _ in range(per_address):
                        conn.request("POST", "/webhooks/hubspot", body=b'[{"objectId": 1}]',
                                     headers=forged_headers())
                        answer = conn.getresponse()
                        answer.read()
                        seen[answer.status] += 1
                    conn.close()
                with lock:
                    statuses.update(seen)

            # The honest samples here are /healthz only: a genuine webhook wakes a CRM pull, which writes.
            flood_thread = threading.Thread(target=bad, args=(threading.Event(),))
            flood_thread.start()
            healthz = []
            while flood_thread.is_alive():
                t0 = time.perf_counter()
                probe = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
                probe.request("GET", "/healthz")
                assert probe.getresponse().read() == b"ok"
                probe.close()
                healthz.append(time.perf_counter() - t0)
                time.sleep(0.05)
            wall = time.perf_counter() - started
            cpu = daemon.cpu_seconds() - cpu_before
            time.sleep(0.5)
            total = sum(statuses.values())
            out[name] = {"requests": total, "statuses": dict(statuses), "addresses": addresses,
                         "wall_seconds": round(wall, 2), "requests_per_second": round(total / wall, 1),
                         "cpu_ms_per_request": round(cpu * 1000 / max(1, total), 3),
                         "store_changed": (daemon.store_version(), daemon.store_changes()) != (store_before,
                                                                                              changes_before),
                         "honest": {"healthz": percentiles(healthz or [0.0])}}
        out["rss_end_mb"] = round(daemon.rss_bytes() / MB, 1)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40, help="honest request pairs per attack")
    parser.add_argument("--uploads", type=int, default=4, help="300 MB uploads in flight at once")
    parser.add_argument("--loris", type=int, default=200, help="slow-loris connections")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections")
    parser.add_argument("--flood", type=int, default=10_000, help="bad-signature requests per flood")
    args = parser.parse_args()
    print(json.dumps(run(args.samples, args.uploads, args.loris, args.idle, args.flood), indent=2))


if __name__ == "__main__":
    main()
