"""`threadline backtest` on the terminal: the JSON object (backtest_json.py) as rich tables, rule sets side by side."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threadline.connector.reports.backtest_json import NO_THRESHOLD, SIDES, or_no_threshold
from threadline.rules.scoring.backtest import OUTCOMES

HISTOGRAM_ROWS = 20


def print_backtest(console: Console, data: dict[str, Any]) -> None:
    """Every table of a backtest: MQLs, MQLs per week, score distribution, tiers, tier changes, calibration."""
    window = data["window"]
    console.print(f"backtest of {data['contacts']} contacts, {window['start'][:16]} .. {window['end'][:16]} UTC "
                  f"({window['weeks']} weeks); nothing was written", soft_wrap=True, highlight=False)
    sides = [label for label in SIDES if data.get(label) is not None]
    if data.get("current") is None:
        console.print("no current scoring rules (rules.scoring in the config): the proposed rules alone")
    _mqls(console, data, sides)
    _per_week(console, data, sides)
    _histogram(console, data, sides)
    _tiers(console, data, sides)
    if data.get("tier_changes") is not None:
        _tier_changes(console, data["tier_changes"])
    for label in sides:
        _calibration(console, data, label)


def _table(title: str, *columns: str, names: int = 1) -> Table:
    """A table whose first `names` columns hold names (left) and the rest numbers (right)."""
    table = Table(title=title)
    for n, column in enumerate(columns):
        table.add_column(column, justify="left" if n < names else "right")
    return table


def _mqls(console: Console, data: dict[str, Any], sides: list[str]) -> None:
    table = _table("MQLs in the window", "", *sides)
    table.add_row("MQL threshold", *(or_no_threshold(data[s]["mql_threshold"]) for s in sides))
    table.add_row("became MQL", *(or_no_threshold(data[s]["mqls"]) for s in sides))
    table.add_row("already MQL at the start", *(or_no_threshold(data[s]["mql_at_start"]) for s in sides))
    console.print(table)


def _per_week(console: Console, data: dict[str, Any], sides: list[str]) -> None:
    counted = [s for s in sides if data[s]["mqls_per_week"] is not None]
    if not counted:
        return
    table = _table("MQLs per week", "week from", *counted)
    weeks = data[counted[0]]["mqls_per_week"]
    for n, week in enumerate(weeks):
        table.add_row(week["starts"], *(str(data[s]["mqls_per_week"][n]["mqls"]) for s in counted))
    console.print(table)


def _histogram(console: Console, data: dict[str, Any], sides: list[str]) -> None:
    """Contacts per score range; 10-point bins merged so that the table keeps at most HISTOGRAM_ROWS rows."""
    bins = data["proposed"]["histogram"]
    merge = max(1, -(-len(bins) // HISTOGRAM_ROWS))
    rows = []
    for first in range(0, len(bins), merge):
        group = range(first, min(first + merge, len(bins)))
        rows.append((f"{bins[group[0]]['from']}-{bins[group[-1]]['to']}",
                     [sum(data[s]["histogram"][n]["contacts"] for n in group) for s in sides]))
    table = _table(f"score distribution at the end (contacts per {10 * merge} points)", "score", *sides)
    top = max((count for _, counts in rows for count in counts), default=0) or 1
    for label, counts in rows:
        table.add_row(label, *(f"{count} {'█' * round(20 * count / top)}" for count in counts))
    console.print(table)


def _tiers(console: Console, data: dict[str, Any], sides: list[str]) -> None:
    names = list(dict.fromkeys(tier for s in reversed(sides) for tier in data[s]["tiers"]))
    table = _table("tiers at the end", "tier", *sides)
    for name in names:
        table.add_row(escape(name), *(str(data[s]["tiers"].get(name, 0)) for s in sides))
    console.print(table)


def _tier_changes(console: Console, changes: dict[str, Any]) -> None:
    mql = changes["mql"]
    console.print(f"{changes['total']} contacts would end in another tier; MQL under both: {mql['both']}, "
                  f"only current: {mql['only_current']}, only proposed: {mql['only_proposed']}", highlight=False)
    if not changes["moves"]:
        return
    table = _table("tier changes", "current", "proposed", "contacts", names=2)
    for move in changes["moves"]:
        table.add_row(escape(move["from"]), escape(move["to"]), str(move["contacts"]))
    console.print(table)
    for c in changes["contacts"]:
        who = f" ({c['contact']})" if c["contact"] else ""
        console.print(f"  {c['contact_id']}{who}: {c['current']['total']} ({c['current']['tier'] or '-'}) -> "
                      f"{c['proposed']['total']} ({c['proposed']['tier'] or '-'})", markup=False, highlight=False)
    if changes["total"] > changes["listed"]:
        console.print(f"  ... and {changes['total'] - changes['listed']} more (raise --detail)")


def _calibration(console: Console, data: dict[str, Any], label: str) -> None:
    side = data[label]
    if side["calibration"] is None:
        console.print(f"{label}: {NO_THRESHOLD}: no MQLs or calibration to show")
        return
    days = data["outcomes"]["days"]
    table = _table(f"{label}: MQLs by score band at the end, outcomes within {days:g} days",
                   "band", "contacts", "MQLs", *OUTCOMES, "any", "rate")
    for row in [*side["calibration"], {"band": "all", **side["calibration_total"]}]:
        table.add_row(escape(row["band"]), str(row["contacts"]), str(row["mqls"]),
                      *(str(row[o]) for o in OUTCOMES), str(row["any"]),
                      "-" if row["rate"] is None else f"{row['rate']:.0%}")
    console.print(table)
