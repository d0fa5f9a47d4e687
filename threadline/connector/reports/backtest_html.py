"""`threadline backtest --html PATH`: ONE self-contained file (inline CSS, an inline SVG histogram, no scripts),
drawn from the JSON object of backtest_json.py. Every name is HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from threadline.connector.reports.backtest_json import NO_THRESHOLD, SIDES, or_no_threshold
from threadline.rules.scoring.backtest import OUTCOMES

_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #cbd2d9;padding:.25rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
h2{margin-top:2rem}.current{fill:#9aa5b1}.proposed{fill:#3e7cb1}text{font-size:11px;fill:#1f2933}"""


def backtest_html(data: dict[str, Any]) -> str:
    """The whole backtest as one HTML document."""
    sides = [label for label in SIDES if data.get(label) is not None]
    window = data["window"]
    parts = [f"<p>{data['contacts']} contacts, {escape(window['start'][:16])} .. {escape(window['end'][:16])} UTC "
             f"({window['weeks']} weeks). Nothing was written to the CRM or the store.</p>",
             "<h2>MQLs in the window</h2>", _table(["", *sides], [
                 ["MQL threshold", *(or_no_threshold(data[s]["mql_threshold"]) for s in sides)],
                 ["became MQL", *(or_no_threshold(data[s]["mqls"]) for s in sides)],
                 ["already MQL at the start", *(or_no_threshold(data[s]["mql_at_start"]) for s in sides)]])]
    counted = [s for s in sides if data[s]["mqls_per_week"] is not None]
    if counted:
        weeks = data[counted[0]]["mqls_per_week"]
        parts += ["<h2>MQLs per week</h2>", _table(["week from", *counted], [
            [week["starts"], *(data[s]["mqls_per_week"][n]["mqls"] for s in counted)] for n, week in enumerate(weeks)])]
    parts += ["<h2>Score distribution at the end</h2>", _histogram_svg(data, sides),
              _table(["score", *sides], [[f"{b['from']}-{b['to']}", *(data[s]["histogram"][n]["contacts"] for s in sides)]
                                         for n, b in enumerate(data["proposed"]["histogram"])])]
    tiers = list(dict.fromkeys(t for s in reversed(sides) for t in data[s]["tiers"]))
    parts += ["<h2>Tiers at the end</h2>",
              _table(["tier", *sides], [[t, *(data[s]["tiers"].get(t, 0) for s in sides)] for t in tiers])]
    if data.get("tier_changes") is not None:
        parts.append(_changes(data["tier_changes"]))
    parts += [_calibration(data, label) for label in sides]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Threadline scoring backtest"
            f"</title><style>{_CSS}</style></head><body><h1>Scoring backtest</h1>{''.join(parts)}</body></html>\n")


def _table(head: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in head) + f"</tr>{body}</table>"


def _histogram_svg(data: dict[str, Any], sides: list[str]) -> str:
    """Vertical bars per 10-point bin, one per rule set side by side (grey current, blue proposed)."""
    bins = data["proposed"]["histogram"]
    top = max((b["contacts"] for s in sides for b in data[s]["histogram"]), default=0) or 1
    width, bars = 12 * len(sides) + 8, []
    for n, b in enumerate(bins):
        for k, side in enumerate(sides):
            count = data[side]["histogram"][n]["contacts"]
            height = 100 * count / top
            bars.append(f'<rect class="{side}" x="{width * n + 12 * k + 2}" y="{120 - height:.1f}" width="11" '
                        f'height="{height:.1f}"><title>{escape(side)} {b["from"]}-{b["to"]}: {count}</title></rect>')
        bars.append(f'<text x="{width * n + 2}" y="134">{b["from"]}</text>')
    legend = "".join(f'<rect class="{side}" x="{4 + 90 * k}" y="146" width="10" height="10"/>'
                     f'<text x="{18 + 90 * k}" y="155">{escape(side)}</text>' for k, side in enumerate(sides))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width * len(bins) + 8, 200)}" height="162" '
            f'role="img" aria-label="score distribution">{"".join(bars)}{legend}</svg>')


def _changes(changes: dict[str, Any]) -> str:
    mql = changes["mql"]
    rows = [[c["contact_id"], c["contact"] or "", f"{c['current']['total']} ({c['current']['tier'] or '-'})",
             f"{c['proposed']['total']} ({c['proposed']['tier'] or '-'})"] for c in changes["contacts"]]
    more = changes["total"] - changes["listed"]
    return ("<h2>Contacts whose tier would differ</h2>"
            f"<p>{changes['total']} contacts; MQL under both: {mql['both']}, only current: {mql['only_current']}, "
            f"only proposed: {mql['only_proposed']}</p>"
            + _table(["from", "to", "contacts"], [[m["from"], m["to"], m["contacts"]] for m in changes["moves"]])
            + _table(["contact", "name", "current", "proposed"], rows)
            + (f"<p>... and {more} more</p>" if more > 0 else ""))


def _calibration(data: dict[str, Any], label: str) -> str:
    side = data[label]
    if side["calibration"] is None:
        return f"<h2>{escape(label)}: calibration</h2><p>{NO_THRESHOLD}</p>"
    rows = [[r["band"], r["contacts"], r["mqls"], *(r[o] for o in OUTCOMES), r["any"],
             "–" if r["rate"] is None else f"{r['rate']:.0%}"]
            for r in [*side["calibration"], {"band": "all", **side["calibration_total"]}]]
    days = data["outcomes"]["days"]
    return (f"<h2>{escape(label)}: MQLs by score band, outcomes within {days:g} days</h2>"
            + _table(["band", "contacts", "MQLs", *OUTCOMES, "any", "rate"], rows))
