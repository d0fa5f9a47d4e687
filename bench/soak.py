"""The long fault and fuzz run CI leaves out, with figures: `python -m bench.soak [--quick]`.

Runs tests/reliability under THREADLINE_SOAK=1 (100× the hypothesis examples of every fuzz test, and the
slower provider-fault cases CI skips) with CI=true, so a missing server fails instead of skipping. Prints
one JSON document: tests passed/failed/skipped, the hypothesis examples run (from
--hypothesis-show-statistics), and the wall time. `--quick` runs the fuzz tests at CI's size.

Needs what the test suite needs (Dovecot, PostgreSQL: run ./scripts/test once first).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# "150 passing, 0 failing, and 30 invalid test cases" (older Hypothesis: "150 passing examples, 0 failing examples")
EXAMPLES = re.compile(r"(\d+) passing(?: examples?)?, (\d+) failing")
LOG = ROOT / "bench" / "out" / "soak-pytest.log"


def postgres_url() -> str | None:
    """The test PostgreSQL URL as scripts/test finds it (env THREADLINE_TEST_PG first)."""
    if os.environ.get("THREADLINE_TEST_PG"):
        return os.environ["THREADLINE_TEST_PG"]
    found = subprocess.run([sys.executable, str(ROOT / "scripts" / "ensure_postgres.py")],
                           capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


def junit_counts(path: Path) -> dict[str, int]:
    suite = ElementTree.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    tests, failures, errors, skipped = (int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped"))
    return {"tests": tests, "passed": tests - failures - errors - skipped, "failed": failures + errors,
            "skipped": skipped}


def failed_names(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    return [f"{case.get('classname')}::{case.get('name')}" for case in root.iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fuzz tests at CI's size only")
    args = parser.parse_args()
    env = {**os.environ, "CI": "true"}
    env.pop("THREADLINE_SOAK", None)
    if not args.quick:
        env["THREADLINE_SOAK"] = "1"
    pg = postgres_url()
    if pg:
        env["THREADLINE_TEST_PG"] = pg
    targets = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "reliability").glob("test_fuzz_*.py")) \
        if args.quick else ["tests/reliability"]
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest",
                               "--hypothesis-show-statistics", f"--junitxml={junit}", *targets],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        junit_ok = junit.exists()
        counts = junit_counts(junit) if junit_ok else {"tests": 0, "passed": 0, "failed": 1, "skipped": 0}
        failures = failed_names(junit) if junit.exists() else ["pytest did not finish: " + done.stderr[-300:]]
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(done.stdout + done.stderr)          # the statistics and any failure, for whoever reads the figures
    examples = [(int(p), int(f)) for p, f in EXAMPLES.findall(done.stdout)]
    print(json.dumps({
        "mode": "quick" if args.quick else "soak", "targets": targets, "wall_seconds": round(wall, 1),
        **counts, "failures": failures,
        "fuzz_examples": sum(p + f for p, f in examples), "fuzz_failing_examples": sum(f for _, f in examples),
        "pytest_exit": done.returncode,
    }, indent=1))
    # failed tests are figures (judged against 0 on the page); only a run that did not finish is an error
    return 0 if junit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
