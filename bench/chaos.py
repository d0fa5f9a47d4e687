"""The chaos test at soak size, with figures: `python -m bench.chaos [--quick]`.

Runs tests/replicas/test_chaos.py (three `threadline run` replicas on PostgreSQL, SIGKILLed and SIGSTOPped at
random while HubSpot throttles past the lease, answers 5xx, drops answers after acting and answers slowly)
under THREADLINE_SOAK=1: a chaos phase 100x as long as CI's (50 minutes). `--quick` runs CI's size. Prints one
JSON document: replies, kills, pauses, faults armed and fired, duplicates and losses, sends and duplicated
sends, the seed, and whether the test passed.

Needs what the test suite needs (Dovecot, PostgreSQL: run ./scripts/test once first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.soak import postgres_url

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "bench" / "out" / "chaos-pytest.log"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI's size (a 30 s chaos phase)")
    parser.add_argument("--seed", type=int, help="replay a run (THREADLINE_CHAOS_SEED)")
    args = parser.parse_args()
    env = {**os.environ, "CI": "true"}
    env.pop("THREADLINE_SOAK", None)
    if not args.quick:
        env["THREADLINE_SOAK"] = "1"
    if args.seed is not None:
        env["THREADLINE_CHAOS_SEED"] = str(args.seed)
    pg = postgres_url()
    if pg:
        env["THREADLINE_TEST_PG"] = pg
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "chaos.json"
        env["THREADLINE_CHAOS_REPORT"] = str(report)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-s", "tests/replicas/test_chaos.py",
                               "--timeout", "7200"], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        figures = json.loads(report.read_text()) if report.exists() else {}
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(done.stdout + done.stderr)
    print(json.dumps({"mode": "quick" if args.quick else "soak", **figures, "passed": done.returncode == 0,
                      "wall_seconds": round(wall, 1), "pytest_exit": done.returncode}, indent=1))
    return 0 if figures else 1          # a failed assertion is a figure (judged on the page); no report is an error


if __name__ == "__main__":
    sys.exit(main())
