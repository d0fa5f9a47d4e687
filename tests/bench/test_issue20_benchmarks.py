"""The issue #20 benchmarks at tiny sizes: the report benchmark's seeded store reads back as the numbers it seeded,
and the scheduler run with branches and an A/B test records its decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench import catalog
from bench.backtest_scale import one_size
from bench.report_scale import measure
from bench.report_scale_data import seed
from bench.sequence_branching import one_run
from bench.sequence_scheduler import SchedulerConfig
from threadline.sync.store.database import Store


def test_the_report_over_the_seeded_store_counts_every_enrolment_variant_and_branch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    now = datetime.now(UTC)
    written = seed(Store(url), 300, now)
    result = measure(url, now)          # as `threadline report` reads the store (statistics taken first)
    assert written["enrollments"] == result["enrolled"] == 300
    assert 2 * 300 <= result["sent"] <= 3 * 300
    assert sum(result["variants"]["step 1"].values()) == 300
    assert sum(result["branches"].values()) == 300 and "step 2 -> pricing" in result["branches"]
    assert 0 < result["outcomes"]["replied"] < 300 and result["outcomes"]["mql_crossed"] > 0
    figures = catalog.report_scale({"sizes": [{"enrolments": 300, "as_is": result, "analyzed": result}],
                                    "largest": {"enrolments": 300}})
    assert [f.name for f in figures if f.headline] == ["report over 300 enrolments (as opened)",
                                                       "peak RSS of report (300 enrolments, as opened)"]


def test_the_branching_run_records_a_decision_and_a_variant_per_enrolment_that_got_there(tmp_path: Path) -> None:
    config = SchedulerConfig(contacts=40, mailboxes=4, max_days=8, run_every_minutes=120, visit_share=0.5,
                             reply_rate=0.0, branching=True)
    run = one_run(config, tmp_path, "branching")
    decided = run["decided"]
    assert sum(decided["variants_first_step"].values()) == 40 and set(decided["variants_first_step"]) == {"a", "b"}
    assert decided["branch_decisions"].get("last", 0) > 0 and decided["branch_decisions"].get("step 3", 0) > 0
    plain = one_run(replace(config, branching=False), tmp_path, "plain")
    assert "decided" not in plain and plain["runner"]["busy_call_due_steps_total"] > 0


def test_the_backtest_benchmark_replays_every_contact_and_its_field_changes() -> None:
    row = one_size(300, 5, 0.3)
    assert row["contacts"] == 300 and 50 <= row["field_changes"] <= 130
    assert row["events_replayed"] == 300 * 5 + row["field_changes"]   # what the replay read, not what was seeded
    assert row["mqls_proposed"] > 0 and row["peak_rss_mb"] > 0
