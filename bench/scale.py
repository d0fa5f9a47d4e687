"""Benchmark: how wall time and peak RSS grow with the organisation (issue #18's scale section).

Runs the size-taking benchmarks at three sizes each, every run in its own process so each RSS is that
run's alone, and draws `bench/scale.svg` (bench/scale_chart.py) next to RESULTS.md:

* contacts (10k, 100k, 1M): the HubSpot backfill (bench/hubspot_backfill.py, 50 ms per request) and
  `threadline plan` with 5 events per contact (bench/plan_100k.py);
* mailboxes (20, 200, 2,000): one idle poll cycle of that many Gmail mailboxes (bench/org_mailboxes.py,
  50 ms per request) and a daemon with them and 10,000 contacts (bench/daemon_rss.py).

Sizes another benchmark of the same `python -m bench all` run has already measured are read from its raw
output in bench/out/raw/ instead of being run again; each such point says where it came from.

Prints JSON: every point, and the chart's path. `--quick` runs smaller sizes and writes the chart to a
temporary file, so a quick run never replaces the committed one.

    .venv/bin/python -m bench.scale            # full sizes, about 20 minutes
    .venv/bin/python -m bench.scale --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scale_chart import Panel, Series, svg

HERE = Path(__file__).resolve().parent
RAW = HERE / "out" / "raw"
FULL = {"contacts": (10_000, 100_000, 1_000_000), "mailboxes": (20, 200, 2_000)}
QUICK = {"contacts": (2_000, 10_000), "mailboxes": (5, 20)}


@dataclass(frozen=True)
class Measure:
    """One benchmark run at a size: how to call it, where its size, wall time and RSS are in its JSON, and
    which other benchmarks' latest raw output (bench/out/raw/) may already hold the same run."""

    label: str
    axis: str                               # "contacts" or "mailboxes"
    module: str
    argv: Callable[[int], list[str]]
    size: str                               # dotted paths in the benchmark's JSON
    wall: str
    rss: str
    reuse: tuple[str, ...] = ()


MEASURES = (
    Measure("HubSpot backfill", "contacts", "bench.hubspot_backfill",
            lambda n: ["--contacts", str(n), "--searches-per-second", "5"], "contacts", "wall_seconds",
            "peak_rss_mb", reuse=("hubspot_backfill", "hubspot_backfill_1m")),
    Measure("plan (5 events each)", "contacts", "bench.plan_100k",
            lambda n: ["--contacts", str(n)], "contacts", "plan_wall_seconds", "peak_rss_mb", reuse=("plan_100k",)),
    Measure("idle poll cycle, Gmail", "mailboxes", "bench.org_mailboxes",
            lambda n: ["--backfill-mailboxes", "4", "--messages", "10", "--idle-mailboxes", str(n)], "idle.mailboxes",
            "idle.cycle_seconds", "idle.peak_rss_mb", reuse=("org_mailboxes",)),
    Measure("daemon, 10,000 contacts", "mailboxes", "bench.daemon_rss",
            lambda n: ["--contacts", "10000", "--mailboxes", str(n), "--cycles", "2"], "mailboxes",
            "cycle_wall_seconds.-1", "peak_rss_mb"),
)


def dig(data: Any, path: str) -> float | None:
    for key in path.split("."):
        if isinstance(data, list) and key.lstrip("-").isdigit() and data:
            data = data[int(key)]
        elif isinstance(data, dict) and key in data:
            data = data[key]
        else:
            return None
    return float(data) if isinstance(data, int | float) else None


def reused(item: Measure, size: int) -> dict[str, Any] | None:
    """The point from another benchmark's latest full run of the same size, if there is one."""
    for name in item.reuse:
        raw = RAW / f"{name}.json"
        if not raw.exists():
            continue
        text = raw.read_text()
        try:
            data = json.loads(text[text.index("{"):])
        except ValueError:
            continue
        if dig(data, item.size) == size:
            return {"label": item.label, "axis": item.axis, "size": size, "wall_seconds": dig(data, item.wall),
                    "peak_rss_mb": dig(data, item.rss), "from": f"bench/out/raw/{name}.json"}
    return None


def measure(item: Measure, size: int, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", item.module, *item.argv(size)], capture_output=True, text=True,
                              timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"label": item.label, "axis": item.axis, "size": size, "error": f"timed out after {timeout:g} s"}
    seconds = round(time.monotonic() - started, 1)
    try:
        data = json.loads(done.stdout[done.stdout.index("{"):]) if "{" in done.stdout else None
    except ValueError:
        data = None
    if done.returncode != 0 or data is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"label": item.label, "axis": item.axis, "size": size, "error": tail[0][:300]}
    return {"label": item.label, "axis": item.axis, "size": size, "wall_seconds": dig(data, item.wall),
            "peak_rss_mb": dig(data, item.rss), "run_seconds": seconds}


def chart(points: list[dict[str, Any]]) -> str:
    def series(axis: str, key: str) -> tuple[Series, ...]:
        labels = dict.fromkeys(p["label"] for p in points if p["axis"] == axis)
        return tuple(Series(label, tuple((float(p["size"]), float(p[key])) for p in points
                                         if p["label"] == label and p.get(key))) for label in labels)

    return svg([
        Panel("Wall time against contacts", "contacts", "seconds", series("contacts", "wall_seconds")),
        Panel("Peak RSS against contacts", "contacts", "MB", series("contacts", "peak_rss_mb"), limit=500),
        Panel("Wall time against mailboxes", "mailboxes", "seconds", series("mailboxes", "wall_seconds"), limit=15),
        Panel("Peak RSS against mailboxes", "mailboxes", "MB", series("mailboxes", "peak_rss_mb"), limit=500),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; the chart goes to a temporary file")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    # A full run takes the sizes other benchmarks of `python -m bench all` have just measured from their raw
    # output (the 1,000,000-contact backfill alone is 7 minutes) and runs the rest.
    points = [(None if args.quick else reused(item, size)) or measure(item, size, args.timeout)
              for item in MEASURES for size in sizes[item.axis]]
    path = Path(tempfile.gettempdir()) / "threadline-scale-quick.svg" if args.quick else HERE / "scale.svg"
    path.write_text(chart(points))
    print(json.dumps({"points": points, "chart": str(path), "sizes": sizes}, indent=2))


if __name__ == "__main__":
    main()
