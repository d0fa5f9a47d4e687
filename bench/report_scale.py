"""Benchmark: `threadline report` with outcome metrics over 10,000, 100,000 and 1,000,000 enrolments (issue #20).

For each size, builds a SQLite store with N enrolments of an A/B-tested, branching sequence and what followed them
(bench/report_scale_data.py: 2-3 done sends each with the executor's payload, branch decisions, replies, meetings,
stage changes, score writes), then runs `build_report` as `threadline report` calls it (the default window from
rules.reporting, the MQL threshold and stage order from the settings, contacts read in batches) in a fresh child
process (`--measure`), so the peak RSS is the report's alone. Measures wall time, CPU, peak RSS, SQL time by
table and the time per 1,000 enrolments at each size. Prints JSON.

Each size is measured twice: on the store as Threadline opens it, and after a full ANALYZE. Without planner
statistics SQLite answered the report's `contact_id IN (...)` reads through the low-selectivity index instead
(outbox by `kind`, events by `type`, audit by `rule`; enrollments had no index leading with contact_id and were
scanned), so every chunk of 500 contacts read every send, outcome event and score write of the whole store and
the report's time grew with the square of the enrolments (first run: 163 s at 100,000). Since migration 0019 the
enrollments have that index, and bounded statistics (ANALYZE with analysis_limit) are taken by `threadline report`
before it reads, by the /metrics refresh and hourly by the daemon, so "as opened" is what they get. `--as-is-up-to` bounds the
sizes measured as opened.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from bench.child import add_child_arguments, measure_in_child, peak_rss_mb, run_as_child
from bench.report_scale_data import SEQUENCE, SEQUENCE_NAME, seed
from threadline.config.models import Settings
from threadline.connector.reports.report_window import ReportWindow, outcome_rules, score_field
from threadline.connector.reports.sequence_report import build_report
from threadline.rules.sequences.reporting.sequence_outcomes import SequenceOutcomes
from threadline.sync.store.database import Store

RSS_TARGET_MB = 500


def settings_for(url: str) -> Settings:
    """A HubSpot config with the benchmark's sequence and a scoring whose MQL tier starts at 50."""
    return Settings.model_validate({
        "store": {"url": url}, "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"},
        "server": {"public_url": "https://threadline.bench.example", "unsubscribe_secret": "bench-secret"},
        "rules": {"sequences": [SEQUENCE], "scoring": {
            "rules": [{"name": "replied", "event": "reply.received", "points": 10}],
            "tiers": [{"name": "cold", "min": 0}, {"name": "mql", "min": 50}]}}})


class SqlClock:
    """Time in SQL statements on one engine until each returns its first row (SQLite steps the rest as they are
    fetched, which this does not see), by the table each reads (``FROM <table>``)."""

    def __init__(self, engine: Engine) -> None:
        self.seconds: dict[str, float] = {}
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info["bench_sql_started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = re.search(r"\bFROM\s+(\w+)", statement)
        table = found.group(1) if found else "other"
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - conn.info["bench_sql_started"]
        self.statements += 1


def measure(url: str, now: datetime) -> dict[str, Any]:
    """What `threadline report` computes for the sequences (everything but printing), timed, in this process."""
    settings = settings_for(url)
    window = ReportWindow.choose(settings, now)
    store = Store(url)
    store.refresh_statistics(now)       # as `threadline report` does right after opening the store
    sql = SqlClock(store.engine)
    cpu, wall = time.process_time(), time.perf_counter()
    report = build_report(store, settings.rules.sequences, since=window.since,
                          rules=outcome_rules(settings, window.follow), score_field=score_field(settings))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.dispose()
    outcomes = report.outcomes.get(SEQUENCE_NAME) or SequenceOutcomes(SEQUENCE_NAME)
    overall = outcomes.overall
    stats = next((s for s in report.sequences if s.name == SEQUENCE_NAME), None)
    return {"enrolled": overall.enrolled, "sent": stats.sent if stats else None,
            "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "sql_statements": sql.statements,
            "sql_seconds_to_first_row_by_table": {table: round(v, 2) for table, v in sorted(sql.seconds.items())},
            "ms_per_1000_enrolments": round(wall * 1e6 / overall.enrolled, 1) if overall.enrolled else None,
            "outcomes": {"reached": overall.reached, "replied": overall.replied, "meetings": overall.meetings,
                         "completed": overall.completed, "progressed": overall.progressed,
                         "mql_eligible": overall.mql_eligible, "mql_crossed": overall.mql_crossed},
            "variants": {f"step {step + 1}": {name: o.enrolled for name, o in by.items()}
                         for step, by in outcomes.variants.items()},
            "branches": {f"step {t.step + 1} -> {t.goto}": n for t, n in sorted(report.branches.items())},
            "peak_rss_mb": peak_rss_mb()}


def in_child(url: str, now: datetime) -> dict[str, Any]:
    """`measure` in a fresh process, so its peak RSS is the report's alone."""
    return measure_in_child("bench.report_scale", url, now)


def analyze(url: str) -> float:
    """SQLite's ANALYZE (table and index statistics for the query planner); returns the seconds it took."""
    started = time.perf_counter()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return round(time.perf_counter() - started, 1)


def one_size(enrolments: int, as_is_up_to: int) -> dict[str, Any]:
    """Seed, then the report on the store as the engine leaves it (no planner statistics) when the size is at most
    `as_is_up_to`, then after ANALYZE."""
    now = datetime.now(UTC)
    row: dict[str, Any] = {"enrolments": enrolments}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/report.db"
        started = time.perf_counter()
        row["rows_seeded"] = seed(Store(url), enrolments, now)
        row["seed_seconds"] = round(time.perf_counter() - started, 1)
        log(f"{enrolments:,} enrolments seeded in {row['seed_seconds']:.0f} s")
        if enrolments <= as_is_up_to:
            row["as_is"] = in_child(url, now)
            log(f"{enrolments:,}: as is {row['as_is']['wall_seconds']} s")
        row["analyze_seconds"] = analyze(url)
        row["analyzed"] = in_child(url, now)
        log(f"{enrolments:,}: after ANALYZE {row['analyzed']['wall_seconds']} s")
    return row


def log(text: str) -> None:
    print(f"report_scale: {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated enrolment counts")
    parser.add_argument("--as-is-up-to", type=int, default=100_000,
                        help="measure the store as opened only up to this size (before 0019 that cost grew with "
                             "the square of the enrolments; see the module docstring)")
    add_child_arguments(parser)
    args = parser.parse_args()
    if run_as_child(args, measure):
        return
    rows = [one_size(int(size), args.as_is_up_to) for size in args.sizes.split(",")]
    largest = max(rows, key=lambda row: row["enrolments"])
    skipped = {f"as_is_{row['enrolments']}": f"skipped: above --as-is-up-to {args.as_is_up_to:,}"
               for row in rows if "as_is" not in row}
    measured = [run for row in rows for run in (row.get("as_is"), row["analyzed"]) if run]
    print(json.dumps({
        "benchmark": "report_scale", "sizes": rows, "largest": largest, **skipped, "target_rss_mb": RSS_TARGET_MB,
        "meets_rss_target": all(run["peak_rss_mb"] < RSS_TARGET_MB for run in measured),
        "measured": "a fresh child process per size and store state running build_report as `threadline report` "
                    "calls it (default window, outcome rules and score field from the settings; contacts read in "
                    "batches of 2,000): first on the store as seeded (SQLite without planner statistics, as the "
                    "engine leaves it), then after ANALYZE; seeding is not in it",
    }, indent=2))


if __name__ == "__main__":
    main()
