"""The HTML report's outcome part of one sequence: outcome metrics, stage progression bars, each A/B test's table
with a reply-rate chart (a bar per variant, its Wilson interval as an error bar) and verdicts, and branch counts.
Inline SVG only; every name is HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from threadline.rules.sequences.reporting.ab_tests import VariantTest
from threadline.rules.sequences.reporting.branches import StepBranches
from threadline.rules.sequences.reporting.html import hours_text, table_html
from threadline.rules.sequences.reporting.outcomes import OutcomeRules, Outcomes, rate_text

__all__ = ["outcomes_section"]

_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{label}">{body}</svg>'


def _metrics_table(o: Outcomes, rules: OutcomeRules) -> str:
    mql = ("no MQL threshold configured" if rules.mql_threshold is None
           else f"{rate_text(o.mql_conversion)} ({o.mql_crossed}/{o.mql_eligible})")
    stage = ("no stage order" if rules.stages is None
             else f"{rate_text(o.progression_rate)} ({o.progressed}/{o.enrolled})")
    return table_html(["reply rate", "meeting-booked rate", "completion rate", "stage progression", "MQL conversion",
                       "median time to first reply"],
                      [[f"{rate_text(o.reply_rate)} ({o.replied}/{o.reached})",
                        f"{rate_text(o.meeting_rate)} ({o.meetings}/{o.enrolled})",
                        f"{rate_text(o.completion_rate)} ({o.completed}/{o.enrolled})", stage, mql,
                        hours_text(o.median_time_to_first_reply)]])


def _stage_svg(o: Outcomes, rules: OutcomeRules) -> str:
    """One bar per stage of the order: enrolments whose highest stage reached it."""
    if rules.stages is None or not o.stage_reached:
        return ""
    stages = rules.stages.stages
    top = max(o.stage_reached.values())
    rows = []
    for row, stage in enumerate(stages):
        count, y = o.stage_reached.get(stage, 0), 22 * row + 4
        width = 260 * count / top
        rows.append(f'<text x="0" y="{y + 13}">{escape(stage)}</text>'
                    f'<rect class="bar" x="200" y="{y}" width="{width:.1f}" height="18"/>'
                    f'<text x="{206 + width:.1f}" y="{y + 13}">{count}</text>')
    return _SVG.format(w=520, h=22 * len(stages) + 8, label="highest stage reached", body="".join(rows))


def _variant_svg(test: VariantTest) -> str:
    """A bar per variant (reply rate, 0..100 % across 300 px) with its interval as an error bar."""
    rows = []
    for row, variant in enumerate(test.variants):
        y, rate = 26 * row + 6, variant.outcomes.reply_rate or 0.0
        low, high = 120 + 300 * variant.interval.low, 120 + 300 * variant.interval.high
        rows.append(f'<text x="0" y="{y + 13}">{escape(variant.name)}</text>'
                    f'<rect class="reply" x="120" y="{y}" width="{300 * rate:.1f}" height="18"/>'
                    f'<line x1="{low:.1f}" x2="{high:.1f}" y1="{y + 9}" y2="{y + 9}" stroke="#1f2933"/>'
                    f'<line x1="{low:.1f}" x2="{low:.1f}" y1="{y + 3}" y2="{y + 15}" stroke="#1f2933"/>'
                    f'<line x1="{high:.1f}" x2="{high:.1f}" y1="{y + 3}" y2="{y + 15}" stroke="#1f2933"/>'
                    f'<text x="430" y="{y + 13}">{rate_text(variant.outcomes.reply_rate)} '
                    f'({variant.interval.low:.0%}..{variant.interval.high:.0%})</text>')
    return _SVG.format(w=560, h=26 * len(test.variants) + 10, label="reply rate per variant", body="".join(rows))


def _test_html(step: str, test: VariantTest) -> str:
    rows = [[escape(v.name), v.sends, v.replies, rate_text(v.outcomes.reply_rate),
             f"{v.interval.low:.0%}..{v.interval.high:.0%}", v.outcomes.meetings,
             rate_text(v.outcomes.mql_conversion), rate_text(v.outcomes.progression_rate),
             rate_text(v.outcomes.completion_rate), hours_text(v.outcomes.median_time_to_first_reply)]
            for v in test.variants]
    table = table_html(["variant", "sends", "replies", "reply rate", "95% interval", "meetings", "MQL conversion",
                        "stage progression", "completed", "median time to first reply"], rows)
    verdicts = "".join(f"<li>{escape(v.challenger.name)} vs {escape(v.baseline.name)}: {escape(v.text)}</li>"
                       for v in test.verdicts)
    caveat = f"<p><small>{escape(test.caveat)}</small></p>" if test.verdicts else ""
    return f"<h3>A/B test at {escape(step)}</h3>{table}{_variant_svg(test)}<ul>{verdicts}</ul>{caveat}"


def _branches_html(step: str, branches: StepBranches) -> str:
    rows = [["default" if branch == 0 else f"branch {branch}", escape(goto), count]
            for branch, goto, count in branches.taken]
    return f"<h3>Branches at {escape(step)}</h3>" + table_html(["way", "goes to", "enrolments"], rows)


def outcomes_section(outcomes: Outcomes, rules: OutcomeRules, tests: Sequence[tuple[str, VariantTest]],
                     branches: Sequence[tuple[str, StepBranches]], notes: Sequence[str] = ()) -> str:
    """One sequence's outcome HTML; ``tests`` and ``branches`` come with their step's label."""
    note_html = "".join(f"<p><strong>Note:</strong> {escape(note)}</p>" for note in notes)
    return ("<h3>Outcomes</h3>" + _metrics_table(outcomes, rules) + note_html + _stage_svg(outcomes, rules)
            + "".join(_test_html(step, test) for step, test in tests)
            + "".join(_branches_html(step, b) for step, b in branches))
