"""The report's outcome part: the window it measures, the outcome metrics per sequence, each A/B test's variant
table with its verdicts, and the branch counts; as terminal text and as JSON (html: rules.sequences.reporting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threadline.connector.reports.render import duration_text
from threadline.connector.reports.report_model import SequenceReport
from threadline.rules.sequences.branching import step_label
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.reporting.ab_tests import VariantTest, variant_test
from threadline.rules.sequences.reporting.branches import StepBranches, branches_of
from threadline.rules.sequences.reporting.outcomes import OutcomeRules, Outcomes, rate_text
from threadline.rules.sequences.reporting.outcomes_html import outcomes_section
from threadline.rules.sequences.reporting.sequence_outcomes import SequenceOutcomes

#: The playbooks' rule of thumb: below this share of leads reaching MQL, the sequence or the threshold is wrong...
MQL_NOTE_BELOW = 0.15
#: ...said only once this many enrolments could have converted (fewer say little either way).
MQL_NOTE_MIN = 20


def step_labels(configured: Sequence[SequenceSettings], name: str) -> list[str]:
    """The configured steps' labels of sequence ``name`` (none when it is no longer configured)."""
    found = next((s for s in configured if s.name == name), None)
    return [step_label(found.steps, i) for i in range(len(found.steps))] if found else []


def label(labels: Sequence[str], index: int) -> str:
    """A step's label; a step the data has beyond the config (removed since) is only numbered."""
    return labels[index] if index < len(labels) else f"step {index + 1}"


def variant_tests(report: SequenceReport, name: str) -> list[VariantTest]:
    """Each tested step of this sequence (configured with variants, or with variants in the data), in step order."""
    found = report.outcomes.get(name, SequenceOutcomes(name))
    settings = next((s for s in report.configured if s.name == name), None)
    configured = {i: [v.name for v in step.variants] for i, step in enumerate(settings.steps)
                  if step.variants} if settings else {}
    steps = sorted(set(configured) | set(found.variants))
    return [variant_test(step, found.variants.get(step, {}), configured.get(step, ())) for step in steps]


def step_branches(report: SequenceReport, name: str) -> list[StepBranches]:
    """The sequence's branch counts, configured branches nobody took included (as 0)."""
    settings = next((s for s in report.configured if s.name == name), None)
    configured = {i: [b.goto for b in step.branches] for i, step in enumerate(settings.steps)
                  if step.branches} if settings else {}
    return branches_of(report.branches, name, configured)


def mql_note(outcomes: Outcomes, threshold: float | None) -> str | None:
    """The playbooks' warning when few enrolments reach MQL (only with enough of them to say so)."""
    rate = outcomes.mql_conversion
    if threshold is None or rate is None or outcomes.mql_eligible < MQL_NOTE_MIN or rate >= MQL_NOTE_BELOW:
        return None
    return (f"only {rate:.0%} of enrolments reached MQL (score {threshold:g}); the playbooks expect at least "
            "15-20 %: the sequence targets the wrong contacts or the MQL threshold is set too high")


def outcome_line(outcomes: Outcomes, rules: OutcomeRules) -> str:
    """One line: the rates with their counts."""
    o = outcomes
    parts = [f"reply rate {rate_text(o.reply_rate)} ({o.replied}/{o.reached} reached)",
             f"meetings {rate_text(o.meeting_rate)} ({o.meetings}/{o.enrolled} enrolled)",
             f"completed {rate_text(o.completion_rate)} ({o.completed}/{o.enrolled})"]
    if rules.stages is not None:
        parts.append(f"stage progression {rate_text(o.progression_rate)} ({o.progressed}/{o.enrolled})")
    if rules.mql_threshold is None:
        parts.append("MQL conversion: no MQL threshold configured")
    else:
        parts.append(f"MQL conversion {rate_text(o.mql_conversion)} ({o.mql_crossed}/{o.mql_eligible} below "
                     f"{rules.mql_threshold:g} at the start)")
    parts.append(f"median time to first reply {duration_text(o.median_time_to_first_reply)}")
    return ", ".join(parts)


def print_outcomes(console: Console, report: SequenceReport, name: str) -> None:
    """A sequence's outcome line, its stage and MQL notes, its A/B tests and its branches."""
    outcomes = report.outcomes.get(name, SequenceOutcomes(name)).overall
    console.print(f"  outcomes: {outcome_line(outcomes, report.rules)}", highlight=False)
    if outcomes.stage_reached:
        reached = ", ".join(f"{stage} {n}" for stage, n in _stage_items(outcomes, report.rules))
        console.print(f"  moved forward to (highest stage reached): {escape(reached)}", highlight=False)
    note = mql_note(outcomes, report.rules.mql_threshold)
    if note:
        console.print(f"  [yellow]note:[/] {note}", highlight=False)
    labels = step_labels(report.configured, name)
    for test in variant_tests(report, name):
        _print_test(console, name, label(labels, test.step), test)
    for step in step_branches(report, name):
        console.print(f"  branches at {escape(label(labels, step.step))}: {escape(branch_text(step))}",
                      highlight=False)


def _stage_items(outcomes: Outcomes, rules: OutcomeRules) -> list[tuple[str, int]]:
    order = list(rules.stages.stages) if rules.stages else []
    return sorted(outcomes.stage_reached.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99)


def branch_text(step: StepBranches) -> str:
    return ", ".join(f"{'default' if branch == 0 else f'branch {branch}'} -> {goto}: {count}"
                     for branch, goto, count in step.taken)


def _print_test(console: Console, sequence: str, step: str, test: VariantTest) -> None:
    table = Table(title=f"{sequence} A/B test at {step}", title_justify="left")
    for column in ("variant", "sends", "replies", "reply rate", "95% interval", "meetings", "MQL conversion",
                   "stage progression", "completed", "median to reply"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in test.variants:
        o = row.outcomes
        table.add_row(escape(row.name), str(row.sends), str(row.replies), rate_text(o.reply_rate),
                      f"{row.interval.low:.0%}..{row.interval.high:.0%}", str(o.meetings),
                      rate_text(o.mql_conversion), rate_text(o.progression_rate), rate_text(o.completion_rate),
                      duration_text(o.median_time_to_first_reply))
    console.print(table)
    for verdict in test.verdicts:
        console.print(f"  {escape(verdict.challenger.name)} vs {escape(verdict.baseline.name)}: {verdict.text}",
                      highlight=False)
    if test.verdicts:
        console.print(f"  [dim]{test.caveat}[/]", highlight=False)


def outcomes_json(outcomes: Outcomes) -> dict[str, Any]:
    """The counts and rates of some enrolments (rates null while their denominator is 0; hours for durations)."""
    ttfr = outcomes.median_time_to_first_reply
    return {"enrolled": outcomes.enrolled, "reached": outcomes.reached, "replied": outcomes.replied,
            "reply_rate": outcomes.reply_rate, "meetings": outcomes.meetings,
            "meeting_rate_of_enrolled": outcomes.meeting_rate, "completed": outcomes.completed,
            "completion_rate": outcomes.completion_rate, "stage_progressed": outcomes.progressed,
            "stage_progression_rate": outcomes.progression_rate,
            "stage_reached": dict(sorted(outcomes.stage_reached.items())),
            "mql_eligible": outcomes.mql_eligible, "mql_crossed": outcomes.mql_crossed,
            "mql_conversion": outcomes.mql_conversion,
            "median_hours_to_first_reply": None if ttfr is None else ttfr.total_seconds() / 3600}


def sequence_outcome_json(report: SequenceReport, name: str) -> dict[str, Any]:
    """The keys `report --json` adds to a sequence: outcomes, notes, A/B tests and branches."""
    outcomes = report.outcomes.get(name, SequenceOutcomes(name)).overall
    labels = step_labels(report.configured, name)
    note = mql_note(outcomes, report.rules.mql_threshold)
    return {"outcomes": outcomes_json(outcomes), "notes": [note] if note else [],
            "ab_tests": [_test_json(test, label(labels, test.step)) for test in variant_tests(report, name)],
            "branches": [{"step": step.step + 1, "step_name": label(labels, step.step),
                          "taken": [{"branch": branch or None, "default": branch == 0, "goto": goto, "count": count}
                                    for branch, goto, count in step.taken]}
                         for step in step_branches(report, name)]}


def _test_json(test: VariantTest, step_name: str) -> dict[str, Any]:
    variants = [{"name": row.name, "sends": row.sends, "replies": row.replies, "reply_rate": row.outcomes.reply_rate,
                 "reply_rate_interval": [row.interval.low, row.interval.high], "meetings": row.outcomes.meetings,
                 "outcomes": outcomes_json(row.outcomes)} for row in test.variants]
    verdicts = [{"baseline": v.baseline.name, "challenger": v.challenger.name, "difference": v.difference,
                 "interval": [v.interval.low, v.interval.high], "level": v.interval.level,
                 "p_value": None if v.p_value is None else v.p_value.value,
                 "test": None if v.p_value is None else v.p_value.test,
                 "needed_per_variant": v.needed_per_variant, "verdict": v.text} for v in test.verdicts]
    return {"step": test.step + 1, "step_name": step_name, "variants": variants, "verdicts": verdicts,
            "caveat": test.caveat if test.verdicts else None}


def window_json(report: SequenceReport) -> dict[str, Any]:
    follow = report.rules.follow
    return {"enrolled_since": report.since.isoformat() if report.since else None,
            "follow_days": None if follow is None else follow.total_seconds() / 86400,
            "mql_threshold": report.rules.mql_threshold,
            "stage_field": report.rules.stages.field if report.rules.stages else None,
            "stages": list(report.rules.stages.stages) if report.rules.stages else None}


def window_text(report: SequenceReport) -> str:
    since = f"enrolments since {report.since:%Y-%m-%d %H:%M} UTC" if report.since else "all enrolments"
    follow = report.rules.follow
    return since + (f", each followed for {follow.days} days" if follow else "")


def html_extras(report: SequenceReport) -> dict[str, str]:
    """Per sequence name, its outcome section of the HTML report."""
    extras = {}
    for stats in report.sequences:
        outcomes = report.outcomes.get(stats.name, SequenceOutcomes(stats.name)).overall
        labels = step_labels(report.configured, stats.name)
        note = mql_note(outcomes, report.rules.mql_threshold)
        extras[stats.name] = outcomes_section(
            outcomes, report.rules, [(label(labels, t.step), t) for t in variant_tests(report, stats.name)],
            [(label(labels, b.step), b) for b in step_branches(report, stats.name)], [note] if note else [])
    return extras
