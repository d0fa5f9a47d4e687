"""Benchmark: the sequence scheduler's cost of branches and A/B variants (issue #20).

Runs bench/sequence_scheduler.py's simulation twice on SQLite with the same data (contacts, owners, enrolment
forms, and a pricing-page visit for `--visit-share` of the contacts): once with the plain 5-step sequence, once
with the same sequence plus an A/B test of its first step and two branches at its third (the first, on the
contact's stage, never holds here; the second sends contacts who visited the pricing page since enrolment to the
last step). With branches the runner's `route` decides each enrolment at that step and records a
``sequence.branched`` event. Reports the runner's CPU per call and per due step for both, and the ratio. Prints
JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bench.sequence_scheduler import SchedulerConfig, simulate
from threadline.connector.monitoring.logs import configure_logging
from threadline.rules.sequences.branching import BRANCHED
from threadline.rules.sequences.store import variants_from
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, EventRow

ROOT = Path(__file__).resolve().parents[1]


def decisions(url: str) -> dict[str, Any]:
    """What the run with branches decided: branch decisions by way taken, enrolments by variant."""
    store = Store(url)
    try:
        with store.session() as session:
            taken = Counter(json.loads(data).get("goto") for data in session.exec(
                select(EventRow.data).where(col(EventRow.type) == BRANCHED)).all())
            variants = Counter(dict(variants_from(text)).get(0) for text in session.exec(
                select(EnrollmentRow.variants)).all())
    finally:
        store.dispose()
    return {"branch_decisions": dict(sorted(taken.items())),
            "variants_first_step": {str(k): v for k, v in sorted(variants.items(), key=str)}}


def one_run(config: SchedulerConfig, tmp: Path, name: str) -> dict[str, Any]:
    url = f"sqlite:///{tmp}/{name}.db"
    result = simulate(url, config)
    if config.branching:
        result["decided"] = decisions(url)
    result["runner"]["busy_cpu_us_per_due_step"] = busy_cpu_per_due_step(result)
    return result


def busy_cpu_per_due_step(run: dict[str, Any]) -> float:
    """CPU of the calls with due steps (the enrolment call left out) per due step they handled: the idle calls'
    fixed cost, the same in both runs, left out."""
    runner = run["runner"]
    return round(runner["busy_call_cpu_seconds_total"] * 1e6 / max(1, runner["busy_call_due_steps_total"]), 1)


def in_child(config: SchedulerConfig, branching: bool) -> dict[str, Any]:
    """One simulation in a fresh process, so neither run inherits the other's warm caches."""
    argv = [sys.executable, "-m", "bench.sequence_branching", "--run", "branching" if branching else "plain",
            "--config", json.dumps(asdict(config))]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout))


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(float(run["runner"][key]) for run in runs), 1)


def summary(plain: list[dict[str, Any]], branching: list[dict[str, Any]]) -> dict[str, Any]:
    """The runner's figures side by side (medians over the repeats), and branches+variants over plain."""
    out: dict[str, Any] = {}
    for key in ("cpu_us_per_due_step_excluding_enrolment_call", "busy_cpu_us_per_due_step"):
        a, b = median_of(plain, key), median_of(branching, key)
        out[key] = {"plain": a, "branches_variants": b, "ratio": round(b / a, 3) if a else None}
    for key, label in (("busy_call_cpu_ms", "busy_call_cpu_ms_p50"), ("idle_call_cpu_ms", "idle_call_cpu_ms_p50")):
        a = statistics.median(float(run["runner"][key]["p50"]) for run in plain)
        b = statistics.median(float(run["runner"][key]["p50"]) for run in branching)
        out[label] = {"plain": a, "branches_variants": b, "ratio": round(b / a, 3) if a else None}
    out["due_steps_handled"] = {"plain": plain[0]["runner"]["due_steps_handled"],
                                "branches_variants": branching[0]["runner"]["due_steps_handled"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--daily-cap", type=int, default=50)
    parser.add_argument("--max-days", type=int, default=14, help="simulated days (the branch is at day 6+)")
    parser.add_argument("--run-every-minutes", type=float, default=10)
    parser.add_argument("--visit-share", type=float, default=0.3, help="contacts who visit the pricing page")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternating, in fresh processes")
    parser.add_argument("--run", choices=["plain", "branching"], help=argparse.SUPPRESS)     # the child's part
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging(level="WARNING")
    if args.run:
        config = replace(SchedulerConfig(**json.loads(args.config)), branching=args.run == "branching")
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_run(config, Path(tmp), args.run), default=str))
        return
    config = SchedulerConfig(contacts=args.contacts, mailboxes=args.mailboxes, daily_cap=args.daily_cap,
                             max_days=args.max_days, run_every_minutes=args.run_every_minutes,
                             visit_share=args.visit_share)
    plain: list[dict[str, Any]] = []
    branching: list[dict[str, Any]] = []
    for _ in range(args.repeats):
        plain.append(in_child(config, False))
        branching.append(in_child(config, True))
    print(json.dumps({
        "benchmark": "sequence_branching", "store": "sqlite", "config": asdict(config),
        "overhead": summary(plain, branching), "plain": plain[0], "branches_variants": branching[0],
        "measured": "SequenceRunner.run's CPU (time.process_time) per call over simulated days, each run in a fresh "
                    "process, plain and with branches+variants alternating; medians over the repeats. Per due step: "
                    "every call but the first (which enrols everyone), and the calls with due steps only (the idle "
                    "calls' fixed cost left out); same contacts, events and simulation seed in every run",
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
