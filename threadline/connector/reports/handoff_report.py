"""The Handoff section of `threadline report`: MQL -> owner -> first touch per owner and overall, and the SLA.

The numbers come from threadline.rules.assignment (handoff.py, sla_outcome.py and wait_stats.py define each
time); this module reads the store, names the owners it can (a rep's `name`, else a mailbox's `display_name`)
and renders the section for the terminal, JSON and the HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

from rich.console import Console
from rich.table import Table

from threadline.config.models import Settings
from threadline.connector.reports.handoff_data import load_handoff_input
from threadline.connector.reports.render import duration_text
from threadline.rules.assignment.handoff import HandoffRules, contact_handoffs
from threadline.rules.assignment.sla_outcome import follow_up_tasks
from threadline.rules.assignment.wait_stats import HandoffGroup, HandoffStats, Spread, handoff_stats
from threadline.sync.store.database import Store

NOT_CONFIGURED = "handoff: no assignment configured (rules.assignment), so nothing is handed off to measure"
NOTHING_YET = "handoff: no contact handed off yet"
_WAITS = (("mql_to_assigned", "MQL -> owner"), ("assigned_to_touch", "owner -> first touch"),
          ("mql_to_touch", "MQL -> first touch"))
_JSON_WAITS = {"mql_to_assigned": "mql_to_assigned", "assigned_to_touch": "assigned_to_first_touch",
               "mql_to_touch": "mql_to_first_touch"}


@dataclass
class HandoffReport:
    """The section's numbers, and the owner names known from the config (owner id -> name)."""

    stats: HandoffStats
    names: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        overall = self.stats.overall
        return overall.handed_off == 0 and overall.kept + overall.breached + overall.open == 0


def build_handoff(store: Store, settings: Settings, now: datetime, *,
                  since: datetime | None = None) -> HandoffReport | None:
    """The handoff numbers as of `now` (None when no assignment is configured). With `since`, only contacts
    assigned and follow-up tasks created on or after it count."""
    assignment = settings.rules.assignment
    if assignment is None:
        return None
    scoring = settings.rules.scoring
    mailboxes = {str(box.address): box.owner_id for box in settings.mailboxes if box.owner_id}
    rules = HandoffRules.from_settings(assignment, scoring.fields.tier if scoring else None, mailboxes)
    writes, events = load_handoff_input(store)
    handoffs = [h for h in contact_handoffs(writes, events, rules) if since is None or h.assigned_at >= since]
    tasks = [t for t in follow_up_tasks(writes, events) if since is None or t.created_at >= since]
    return HandoffReport(handoff_stats(handoffs, tasks, now), owner_names(settings))


def owner_names(settings: Settings) -> dict[str, str]:
    """Owner id -> name: the assignment reps' names, else the mailboxes' display names."""
    names = {box.owner_id: box.display_name for box in settings.mailboxes if box.owner_id and box.display_name}
    reps = settings.rules.assignment.reps if settings.rules.assignment else []
    return names | {rep.owner_id: rep.name for rep in reps if rep.name}


def owner_label(owner_id: str | None, names: dict[str, str]) -> str:
    if owner_id is None:
        return "all owners"
    return f"{owner_id} ({names[owner_id]})" if owner_id in names else owner_id


def print_handoff(console: Console, report: HandoffReport | None) -> None:
    """One line when there is nothing to show, else a table: one row per owner, then all owners."""
    if report is None or report.empty:
        console.print(NOT_CONFIGURED if report is None else NOTHING_YET, highlight=False)
        return
    table = Table(title="Handoff: MQL -> owner -> first touch (median / p90)", title_justify="left")
    for column in ("owner", "handed off", "touched", "waiting", *(label for _, label in _WAITS), "SLA kept",
                   "breached", "open"):
        table.add_column(column, justify="left" if column == "owner" else "right")
    for group in report.stats.owners:
        table.add_row(*_cells(group, report.names))
    table.add_section()
    table.add_row(*_cells(report.stats.overall, report.names))
    console.print(table)


def _cells(group: HandoffGroup, names: dict[str, str]) -> list[str]:
    waits = [_spread_text(getattr(group, name)) for name, _ in _WAITS]
    return [owner_label(group.owner_id, names), str(group.handed_off), str(group.touched), str(group.waiting),
            *waits, str(group.kept), str(group.breached), str(group.open)]


def _spread_text(value: Spread) -> str:
    return "-" if value.count == 0 else f"{duration_text(value.median)} / {duration_text(value.p90)}"


def handoff_json(report: HandoffReport | None) -> dict[str, Any] | None:
    """The section for machines (None when no assignment is configured); waits in hours."""
    if report is None:
        return None
    return {"owners": [_group_json(g, report.names) for g in report.stats.owners],
            "overall": _group_json(report.stats.overall, report.names)}


def _group_json(group: HandoffGroup, names: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if group.owner_id is not None:
        item |= {"owner_id": group.owner_id, "name": names.get(group.owner_id)}
    item |= {"handed_off": group.handed_off, "touched": group.touched, "waiting": group.waiting}
    for name, key in _JSON_WAITS.items():
        value: Spread = getattr(group, name)
        item[key] = {"count": value.count, "median_hours": _hours(value.median), "p90_hours": _hours(value.p90)}
    item["sla"] = {"kept": group.kept, "breached": group.breached, "open": group.open}
    return item


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 3600


def handoff_html(report: HandoffReport | None) -> str:
    """The section for the HTML report: a heading and a table (or the one line), every name escaped."""
    if report is None or report.empty:
        return f"<h2>Handoff</h2><p>{escape(NOT_CONFIGURED if report is None else NOTHING_YET)}</p>"
    head = ["owner", "handed off", "touched", "waiting", *(f"{label} (median / p90)" for _, label in _WAITS),
            "SLA kept", "breached", "open"]
    rows = [_cells(group, report.names) for group in [*report.stats.owners, report.stats.overall]]
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (f"<h2>Handoff</h2><table><tr>{''.join(f'<th>{escape(h)}</th>' for h in head)}</tr>{body}</table>")
