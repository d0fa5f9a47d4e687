"""Shared by the benchmarks that seed a store, then measure in a fresh child process (`python -m <module> --measure
URL --now ISO`), so the peak RSS they report is the measured work's alone, not the seeding's."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

Measure = Callable[[str, datetime], dict[str, Any]]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB to one decimal (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def add_child_arguments(parser: argparse.ArgumentParser) -> None:
    """The hidden `--measure STORE_URL --now ISO` arguments the parent passes to its child."""
    parser.add_argument("--measure", metavar="STORE_URL", help=argparse.SUPPRESS)   # the child's part
    parser.add_argument("--now", help=argparse.SUPPRESS)


def run_as_child(args: argparse.Namespace, measure: Measure) -> bool:
    """When `args` are the child's, print `measure`'s result as one JSON line and return True."""
    if not args.measure:
        return False
    print(json.dumps(measure(args.measure, datetime.fromisoformat(args.now))))
    return True


def measure_in_child(module: str, url: str, now: datetime) -> dict[str, Any]:
    """Run `python -m module --measure url --now now` in a fresh process; returns the JSON of its last output line."""
    child = subprocess.run([sys.executable, "-m", module, "--measure", url, "--now", now.isoformat()],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))
