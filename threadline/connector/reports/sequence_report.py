"""`threadline report`: per sequence and per step, what went out and what came back, then the handoff numbers
(handoff_report.py); optionally as HTML."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from threadline.config.models import Settings
from threadline.connector.reports.handoff_report import (
    build_handoff,
    handoff_html,
    handoff_json,
    print_handoff,
)
from threadline.connector.reports.outcome_report import (
    html_extras,
    print_outcomes,
    sequence_outcome_json,
    window_json,
    window_text,
)
from threadline.connector.reports.render import duration_text
from threadline.connector.reports.report_data import (
    REPORT_BATCH,
    enrolled_contact_batches,
    load_report_input,
)
from threadline.connector.reports.report_model import SequenceReport
from threadline.connector.reports.report_window import ReportWindow, outcome_rules, score_field
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.reporting.branches import BranchTaken, branch_counts
from threadline.rules.sequences.reporting.html import render_report_html
from threadline.rules.sequences.reporting.outcomes import OutcomeRules
from threadline.rules.sequences.reporting.sequence_outcomes import SequenceOutcomes, sequence_outcomes
from threadline.rules.sequences.reporting.stats import (
    SequenceStats,
    StepStats,
    merge_stats,
    replies_per_day,
    sequence_stats,
)
from threadline.sync.store.database import Store


def build_report(store: Store, configured: Sequence[SequenceSettings], *, sequence: str | None = None,
                 since: datetime | None = None, batch: int = REPORT_BATCH, rules: OutcomeRules | None = None,
                 score_field: str | None = None) -> SequenceReport:
    """Read the store and compute the numbers, for enrolments on or after ``since`` (None: all), each followed
    for ``rules.follow`` (None: until the contact's next enrolment). ``score_field``: the scoring's total field
    (the MQL conversion reads its history). Configured steps without sends show as zero rows, so the funnel shows
    where an enrollment stopped; sequences only in the store (removed from the config) still show."""
    rules = rules or OutcomeRules()
    wanted = [s for s in configured if sequence is None or s.name == sequence]
    step_counts = {s.name: len(s.steps) for s in wanted}
    stats: dict[str, SequenceStats] = {}
    replies: Counter[date] = Counter()
    outcomes: dict[str, SequenceOutcomes] = {}
    branches: Counter[BranchTaken] = Counter()
    # Contacts in batches, added up: outcomes are per enrollment and enrollments per contact, so a batch of
    # contacts is counted whole, and the report's memory does not grow with the enrollments.
    for contacts in enrolled_contact_batches(store, sequence=sequence, since=since, size=batch):
        data = load_report_input(store, sequence=sequence, since=since, step_counts=step_counts,
                                 contact_ids=contacts, score_field=score_field)
        for part in sequence_stats(data.enrollments, data.sends, data.events, rules.follow):
            stats[part.name] = merge_stats(stats[part.name], part) if part.name in stats else part
        for name, found in sequence_outcomes(data.enrollments, data.sends, data.events, data.scores, rules).items():
            outcomes[name] = outcomes[name].add(found) if name in outcomes else found
        branches.update(branch_counts(data.enrollments, data.events))
        replies.update(replies_per_day(data.enrollments, data.events))
    for settings in wanted:
        entry = stats.setdefault(settings.name, SequenceStats(settings.name))
        _pad_steps(entry, len(settings.steps))
    kinds: dict[str, list[str]] = {s.name: [step.kind for step in s.steps] for s in wanted}
    return SequenceReport([stats[name] for name in sorted(stats)], dict(sorted(replies.items())), kinds, outcomes,
                          branches, rules, since, wanted)


def _pad_steps(entry: SequenceStats, count: int) -> None:
    have = {step.index for step in entry.steps}
    entry.steps += [StepStats(index) for index in range(count) if index not in have]
    entry.steps.sort(key=lambda step: step.index)


def print_report(console: Console, report: SequenceReport) -> None:
    """The window, then per sequence: two lines (enrollments by state; sends and outcomes), a table of its
    steps, its outcome metrics, A/B tests and branches."""
    console.print(f"[dim]{window_text(report)}[/]", highlight=False)
    for stats in report.sequences:
        exited = ", ".join(f"{reason} {n}" for reason, n in sorted(stats.exited.items())) or "none"
        console.print(f"[bold]{stats.name}[/]: {stats.enrolled} enrolled: {stats.active} active, {stats.paused} "
                      f"paused, {stats.completed} completed; exited: {exited}", highlight=False)
        console.print(f"  sent {stats.sent}, replied {stats.replied} (reply rate {stats.reply_rate:.0%}, median time "
                      f"to first reply {duration_text(stats.median_time_to_first_reply)}), bounced {stats.bounced}, "
                      f"unsubscribed {stats.unsubscribed}, meetings {stats.meetings}", highlight=False)
        console.print(_steps_table(stats, report.step_kinds.get(stats.name, [])))
        print_outcomes(console, report, stats.name)
    if report.replies_per_day:
        days = ", ".join(f"{day:%Y-%m-%d} {n}" for day, n in report.replies_per_day.items())
        console.print(f"replies per day (UTC): {days}", highlight=False)


def _steps_table(stats: SequenceStats, kinds: list[str]) -> Table:
    table = Table(title=f"{stats.name} per step", title_justify="left")
    for column in ("step", "kind", "sent", "replied", "bounced", "unsubscribed"):
        table.add_column(column, justify="left" if column in ("step", "kind") else "right")
    for step in stats.steps:
        kind = kinds[step.index] if step.index < len(kinds) else "?"
        table.add_row(str(step.index + 1), kind, str(step.sent), str(step.replied), str(step.bounced),
                      str(step.unsubscribed))
    return table


def report_json(report: SequenceReport) -> dict[str, Any]:
    """The same numbers for machines; durations in hours."""
    def one(stats: SequenceStats) -> dict[str, Any]:
        ttfr = stats.median_time_to_first_reply
        return {"name": stats.name, "enrolled": stats.enrolled, "active": stats.active, "paused": stats.paused,
                "completed": stats.completed, "exited": dict(sorted(stats.exited.items())), "sent": stats.sent,
                "reached": stats.reached, "replied": stats.replied, "bounced": stats.bounced,
                "unsubscribed": stats.unsubscribed, "meetings": stats.meetings, "reply_rate": stats.reply_rate,
                "median_hours_to_first_reply": None if ttfr is None else ttfr.total_seconds() / 3600,
                "steps": [{"step": s.index + 1, "sent": s.sent, "replied": s.replied, "bounced": s.bounced,
                           "unsubscribed": s.unsubscribed} for s in stats.steps],
                **sequence_outcome_json(report, stats.name)}
    return {"window": window_json(report), "sequences": [one(s) for s in report.sequences],
            "replies_per_day": {day.isoformat(): n for day, n in report.replies_per_day.items()}}


def write_html(report: SequenceReport, path: Path, handoff: str = "") -> None:
    """The self-contained HTML report (inline CSS and SVG, no scripts, nothing fetched); `handoff`: the
    Handoff section's HTML (handoff_report.handoff_html), placed last."""
    path.write_text(render_report_html(report.sequences, report.replies_per_day, handoff, html_extras(report),
                                       window_text(report)), encoding="utf-8")


def empty_message(settings: Settings, report: SequenceReport) -> str | None:
    """What to say instead of numbers when there is nothing to report, else None."""
    if not report.sequences:
        return ("no sequences configured (rules.sequences; see config/sequences/examples.yaml) and no enrollments "
                f"in the store at {settings.store.url}")
    if report.enrolled == 0:
        since = f" since {report.since:%Y-%m-%d} (--since or --window look further back)" if report.since else ""
        return (f"no enrollments yet for {', '.join(s.name for s in report.sequences)}{since}: contacts enrol when "
                "a sequence's enroll_on event arrives (run `threadline sync --once` or the daemon)")
    return None


def run_report(console: Console, err: Console, settings: Settings, *, html: Path | None = None,
               sequence: str | None = None, since: datetime | None = None, as_json: bool = False,
               window: ReportWindow | None = None) -> int:
    """The `threadline report` command: the sequences, then the Handoff section (`--sequence` filters only the
    sequences); returns the exit code (2: no such sequence). ``window`` (default: rules.reporting's, from now)
    says which enrolments are measured and for how long; ``since`` overrides its start."""
    now = datetime.now(UTC)
    window = window or ReportWindow.choose(settings, now, since=since)
    store = Store(settings.store.url)
    try:
        store.refresh_statistics(now)       # it reads by contact: SQLite needs the planner's statistics for that
        report = build_report(store, settings.rules.sequences, sequence=sequence, since=window.since,
                              rules=outcome_rules(settings, window.follow), score_field=score_field(settings))
        handoff = build_handoff(store, settings, now, since=window.since)
    finally:
        store.dispose()
    if sequence is not None and not report.sequences:
        err.print(f"no sequence named {sequence!r} in the config or the store", highlight=False)
        return 2
    message = empty_message(settings, report)
    if as_json:
        sys.stdout.write(json.dumps({**report_json(report), "handoff": handoff_json(handoff)}, indent=2) + "\n")
    else:
        if message:
            console.print(message, highlight=False)
        else:
            print_report(console, report)
        print_handoff(console, handoff)
    if html is not None:
        write_html(report, html, handoff_html(handoff))
        (err if as_json else console).print(f"wrote the HTML report to {html}", highlight=False)
    return 0
