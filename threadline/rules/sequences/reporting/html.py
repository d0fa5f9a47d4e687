"""The sequence report as ONE self-contained HTML file: inline CSS, inline SVG charts, no scripts, no assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadline.rules.sequences.reporting.stats import SequenceStats

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #cbd2d9;padding:.25rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
h2{margin-top:2rem}.bar{fill:#3e7cb1}.reply{fill:#2f9e44}text{font-size:11px;fill:#1f2933}"""


def hours_text(value: timedelta | None) -> str:
    """A duration in hours for the report ("–" when there is none)."""
    return "–" if value is None else f"{value.total_seconds() / 3600:.1f} h"


def _summary_table(stats: SequenceStats) -> str:
    exited = ", ".join(f"{escape(reason)}: {count}" for reason, count in sorted(stats.exited.items())) or "–"
    cells = [stats.enrolled, stats.active, stats.paused, stats.sent, stats.replied, f"{stats.reply_rate:.0%}",
             hours_text(stats.median_time_to_first_reply), stats.bounced, stats.unsubscribed, stats.meetings,
             stats.completed, exited]
    head = ["enrolled", "active", "paused", "sent", "replied", "reply rate", "median time to first reply", "bounced",
            "unsubscribed", "meetings", "completed", "exited by reason"]
    return table_html(head, [cells])


def _steps_table(stats: SequenceStats) -> str:
    rows = [[f"step {s.index + 1}", s.sent, s.replied, s.bounced, s.unsubscribed] for s in stats.steps]
    return table_html(["step", "sent", "replied", "bounced", "unsubscribed"], rows) if rows else ""


def table_html(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; the caller escapes the cells and headings."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{body}</table>"


def _funnel_svg(stats: SequenceStats) -> str:
    """Horizontal bars: sent per step, with that step's replies as a green overlay."""
    top = max((step.sent for step in stats.steps), default=0) or 1
    rows = []
    for row, step in enumerate(stats.steps):
        y, sent_w, reply_w = 22 * row + 4, 300 * step.sent / top, 300 * step.replied / top
        rows.append(f'<text x="0" y="{y + 13}">step {step.index + 1}</text>'
                    f'<rect class="bar" x="60" y="{y}" width="{sent_w:.1f}" height="18"/>'
                    f'<rect class="reply" x="60" y="{y}" width="{reply_w:.1f}" height="18"/>'
                    f'<text x="{66 + sent_w:.1f}" y="{y + 13}">{step.sent} sent, {step.replied} replied</text>')
    height = 22 * len(stats.steps) + 8
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="560" height="{height}" role="img" '
            f'aria-label="funnel per step">{"".join(rows)}</svg>')


def _replies_svg(replies: Mapping[date, int]) -> str:
    """Vertical bars, one per day with replies, oldest left."""
    days = sorted(replies.items())
    top = max((count for _, count in days), default=0) or 1
    width = max(24 * len(days), 120)
    bars = [f'<rect class="reply" x="{24 * i + 2}" y="{120 - 100 * n / top:.1f}" width="20" height="{100 * n / top:.1f}">'
            f'<title>{day.isoformat()}: {n}</title></rect>' for i, (day, n) in enumerate(days)]
    labels = [f'<text x="{24 * i + 2}" y="134">{day.strftime("%m-%d")}</text>' for i, (day, _) in enumerate(days)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="140" role="img" '
            f'aria-label="replies per day">{"".join(bars + labels)}</svg>')


def render_report_html(stats: Sequence[SequenceStats], replies_over_time: Mapping[date, int],
                       more: str = "", extras: Mapping[str, str] | None = None, heading: str = "") -> str:
    """The whole report: a summary table and step funnel per sequence (then its `extras` entry, already HTML:
    outcomes, A/B tests, branches), then replies per day, then `more` (further sections, already HTML, e.g. the
    handoff numbers). `heading`: a line under the title (the window). Every name is HTML-escaped; the result needs
    no network and no JavaScript."""
    extras = extras or {}
    sections = [f"<h2>{escape(entry.name)}</h2>{_summary_table(entry)}{_funnel_svg(entry)}{_steps_table(entry)}"
                f"{extras.get(entry.name, '')}" for entry in stats]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Threadline sequence report"
            f"</title><style>{_CSS}</style></head><body><h1>Sequence report</h1>"
            f"{f'<p>{escape(heading)}</p>' if heading else ''}{''.join(sections)}"
            f"<h2>Replies per day</h2>{_replies_svg(replies_over_time)}{more}</body></html>\n")
