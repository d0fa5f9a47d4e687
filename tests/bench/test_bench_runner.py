"""The benchmark runner: a real (tiny) benchmark run becomes a record, and RESULTS.md is regenerated around
the prose it already holds. Sizes are tiny and nothing here asserts on timings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bench import catalog, render, runner
from bench.catalog import Benchmark
from bench.figures import Figure, RunRecord
from bench.peer_tap_hubspot import count_contacts

TINY_SCORING = Benchmark("scoring_throughput", "Scoring throughput", "bench.scoring_throughput",
                         ("--contacts", "50", "--events", "500"), (), catalog.scoring)
PROSE = "# Benchmark results\n\nIntro kept.\n\n## Issue #6: replicas\n\nH4's findings, kept verbatim.\n"


def test_a_real_tiny_run_becomes_a_record_with_figures_against_their_targets(tmp_path: Path) -> None:
    rec = runner.run(TINY_SCORING, "quick", timeout=60, raw_dir=tmp_path / "raw")

    assert rec.status == "ok", rec.reason
    assert rec.command == "python -m bench.scoring_throughput --contacts 50 --events 500"
    assert rec.machine and rec.date.endswith("UTC")
    headline = next(f for f in rec.figures if f.headline)
    assert headline.target == 50_000 and headline.bound == "min"
    assert headline.ratio == round(headline.value / 50_000, 3)
    assert headline.passed == (headline.value >= 50_000)
    raw = json.loads((tmp_path / "raw" / "scoring_throughput.json").read_text())
    assert raw["events"] == 500


def test_a_benchmark_that_cannot_run_says_why_and_has_no_figures() -> None:
    broken = Benchmark("broken", "Broken", "bench.no_such_benchmark", (), (), catalog.scoring)

    rec = runner.run(broken, "quick", timeout=30)

    assert rec.status == "failed" and rec.figures == []
    assert "No module named bench.no_such_benchmark" in rec.reason


def test_records_round_trip_and_render_keeps_the_prose_around_the_generated_part(tmp_path: Path) -> None:
    figure = Figure("wall time", 110.2, "s", 100.0, "max", "search floor", 1.15, headline=True)
    failed = RunRecord("replicas", "Replicas", "python -m bench.bench_replicas", "full", "2026-11-23 18:00 UTC",
                       "2 vCPU", "failed", reason="exit 1: no PostgreSQL")
    records = {"hubspot_backfill": RunRecord("hubspot_backfill", "HubSpot backfill", "python -m x", "quick",
                                             "2026-11-23 18:00 UTC", "2 vCPU", "ok", 1.0, 0.5, "", [figure]),
               "replicas": failed}
    runner.save(records, tmp_path / "results.json")
    loaded = runner.load(tmp_path / "results.json")
    assert loaded["hubspot_backfill"].figures == [figure] and loaded["replicas"].reason == failed.reason

    results_md = tmp_path / "RESULTS.md"
    results_md.write_text(PROSE)
    benchmarks = catalog.find(["hubspot_backfill", "replicas", "gmail_sync"])
    render.write(benchmarks, loaded, results_md)
    text = render.write(benchmarks, loaded, results_md)         # a second render replaces, never appends

    assert text.count(render.BEGIN) == 1 and text.count("H4's findings, kept verbatim.") == 1
    assert text.index(render.END) < text.index("## Issue #6: replicas")
    title = catalog.find(["hubspot_backfill"])[0].title
    assert f"| {title} | wall time | **110.2 s** | 100 s (search floor) | 1.10 | pass |" in text
    assert "failed: exit 1: no PostgreSQL" in text
    assert "| Gmail backfill, incremental and idle | not run by `python -m bench` yet |" in text


def test_the_peer_counts_distinct_contacts_in_singer_records() -> None:
    lines = [json.dumps({"type": "SCHEMA", "stream": "contacts"}),
             *(json.dumps({"type": "RECORD", "stream": "contacts", "record": {"id": str(i % 3)}}) for i in range(4)),
             "a log line", json.dumps({"type": "STATE", "value": {}})]

    assert count_contacts(lines) == (4, 3)


def test_figures_are_read_again_from_the_runs_own_output(tmp_path: Path) -> None:
    (tmp_path / "plan_100k.json").write_text("seeding...\n" + json.dumps(
        {"contacts": 100_000, "plan_wall_seconds": 21.2, "plan_cpu_seconds": 20.0, "peak_rss_mb": 1060}))
    old = RunRecord("plan_100k", "plan", "python -m bench.plan_100k", "full", "2026-11-23 18:00 UTC", "2 vCPU", "ok")

    new = runner.reextract({"plan_100k": old, "unknown": old}, tmp_path)["plan_100k"]

    assert new.date == old.date and new.command == old.command
    headline = next(f for f in new.figures if f.headline)
    assert (headline.value, headline.target, headline.passed) == (21.2, 30.0, True)


def test_a_part_a_benchmark_skipped_is_named_with_its_reason() -> None:
    data = {"contacts": 5, "wall_seconds": 1.0, "api_calls": 1, "search_limit_floor_seconds_at_configured_rate": 1.0,
            "peer_tap_hubspot": {"skipped": "pip install failed"}, "imap_idle": "skipped: no dovecot"}

    rec = runner.record(catalog.find(["hubspot_backfill"])[0], "quick", datetime.now(UTC), 1.0, 0,
                        json.dumps(data), "")

    assert rec.status == "ok" and [f.name for f in rec.figures] == ["wall time"]
    assert rec.reason == "peer_tap_hubspot skipped: pip install failed; imap_idle skipped: no dovecot"
