"""Replicas benchmark (issue #6): 1 vs 3 `threadline run` replicas on one PostgreSQL store, and failover.

200 Gmail mailboxes and HubSpot in the sandbox, which answers every provider request after a fixed
latency (`--latency-ms`, like the real services' round trips; loopback would hide what replicas buy).
For each replica count, a fresh sandbox and a fresh PostgreSQL database; the replicas are real processes
(`python -m threadline run`), started together and left to finish their first pass over every mailbox.
Then (see bench/replica_scenarios.py):

* reply logging: `--replies` replies per mailbox land at once; replies/s until all are on HubSpot;
* outbox execution: `--prospects` new prospects per mailbox enter a one-step sequence; send rows/s;
* failover (3 replicas only): another burst, one replica SIGKILLed while it holds mailbox leases.

HubSpot's 10-second limit is enforced by the sandbox per token; every replica has its own limiter sized
to it (adapters/ratelimit.py), so together they can exceed it: the sandbox's 429 count is reported.

    .venv/bin/python bench/bench_replicas.py                      # the issue's sizes
    .venv/bin/python bench/bench_replicas.py --mailboxes 40 --replica-counts 1,3 --latency-ms 100

PostgreSQL: $THREADLINE_TEST_PG (an admin URL) or postgresql+psycopg://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_sequences import machine, postgres_url  # noqa: E402
from bench.child import peak_rss_mb  # noqa: E402
from bench.replica_scenarios import failover, log_counts, outbox_sends, reply_logging, wait_idle  # noqa: E402
from tests.replicas.replica_world import build_world  # noqa: E402
from threadline.sandbox.server import SandboxServer  # noqa: E402
from threadline.sandbox.settings import SandboxSettings  # noqa: E402
from threadline.sync.store.database import Store  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used so far (/proc/PID/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def sandbox_calls(sandbox: SandboxServer) -> dict[str, Any]:
    stats = sandbox.stats.snapshot()
    return {"requests": stats["requests"], "throttled_429": stats["throttled"],
            "hubspot_by_route": {k.split(" ", 1)[1]: v for k, v in sorted(stats["by_route"].items())
                                 if k.startswith("hubspot ")}}


def run_scenario(replicas: int, args: argparse.Namespace) -> dict[str, Any]:
    lease = f"{args.lease_seconds:g}s"
    with tempfile.TemporaryDirectory() as tmp, postgres_url() as url, \
            SandboxServer(SandboxSettings(request_latency_ms=args.latency_ms)) as sandbox:
        if url is None:
            return {"skipped": "no PostgreSQL"}
        world = build_world(Path(tmp), sandbox, url, mailboxes=args.mailboxes, repliers=2, prospects=0, steps=1,
                            sync={"poll_interval": f"{args.poll_seconds:g}s", "lease_time": lease,
                                  "shutdown_timeout": "20s"})
        try:
            Store(url).dispose()       # `threadline db upgrade` first, as in operations; replicas then find it current
            started = time.monotonic()
            running = [world.start_replica(chr(ord("A") + i)) for i in range(replicas)]
            warmup = wait_idle(world, args.timeout)
            out: dict[str, Any] = {"replicas": replicas, "first_pass_s": round(time.monotonic() - started, 1)}
            out["reply_logging"] = reply_logging(world, args.replies, args.timeout)
            out["outbox_sends"] = outbox_sends(world, args.prospects, args.timeout)
            if replicas > 1 and args.failover:
                out["failover"] = failover(world, running[0], args.replies, args.lease_seconds, args.timeout)
            out["sandbox"] = sandbox_calls(sandbox)
            out["replica_cpu_s"] = {r.name: cpu_seconds(r.pid) for r in running if r.alive()}
            out["bench_process_cpu_s"] = round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 1)
            stops = [r.terminate(30) for r in running if r.alive()]
            out["shutdown"] = [{"exit": code, "seconds": round(took, 2)} for code, took in stops]
            out["warmup_s"] = round(warmup, 1)
            out["replica_warnings"] = log_counts(world)
            return out
        finally:
            world.close()
            if args.keep_logs:
                for log in Path(tmp).glob("replica-*.log"):
                    shutil.copy(log, Path(args.keep_logs) / f"{replicas}-{log.name}")


def ratios(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_count = {r["replicas"]: r for r in results if "replicas" in r}
    if 1 not in by_count or len(by_count) < 2:
        return {}
    one, most = by_count[1], by_count[max(by_count)]
    def ratio(phase: str, figure: str) -> float:
        return round(most[phase][figure] / one[phase][figure], 2)
    return {"reply_logging": ratio("reply_logging", "replies_per_s"), "sends": ratio("outbox_sends", "sends_per_s"),
            "outbox_rows": ratio("outbox_sends", "rows_per_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--replica-counts", default="1,3")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="sandbox latency per provider request")
    parser.add_argument("--replies", type=int, default=3, help="replies per mailbox per burst")
    parser.add_argument("--prospects", type=int, default=1, help="new prospects (one send each) per mailbox")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase")
    parser.add_argument("--keep-logs", help="copy the replicas' logs into this directory")
    parser.add_argument("--no-failover", dest="failover", action="store_false")
    args = parser.parse_args()
    os.environ.setdefault("THREADLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    out: dict[str, Any] = {"benchmark": "replicas", "machine": machine(),
                           "setup": {k: v for k, v in vars(args).items()}}
    out["runs"] = [run_scenario(int(n), args) for n in args.replica_counts.split(",")]
    out["ratio_vs_one"] = ratios(out["runs"])
    out["peak_rss_mb_bench_process"] = peak_rss_mb()
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
