"""Draw how cost grows: wall time and peak RSS against size, as one self-contained SVG (no plotting library).

Four panels: contacts against wall time and against RSS, mailboxes against wall time and against RSS. Both
axes are logarithmic, so a straight line of slope 1 is linear growth and a flat line is cost that does not
grow; every point is labelled with its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 460, 300          # one panel
MARGIN = (64, 20, 36, 46)         # left, right, top, bottom
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True)
class Series:
    """One measured line: `points` are (size, value); a missing size is simply not drawn."""

    label: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Panel:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    limit: float | None = None        # a target drawn as a dashed line (e.g. 500 MB)


def _ticks(low: float, high: float) -> list[float]:
    """Powers of ten spanning [low, high], with 2 and 5 steps when the span is short."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (1, 2, 5) if last - first <= 2 else (1,)
    return [m * 10 ** e for e in range(first, last + 1) for m in steps if low <= m * 10 ** e <= high] or [low, high]


def _label(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:.3g}"


def _panel(panel: Panel, left: float, top: float) -> list[str]:
    xs = [x for s in panel.series for x, _ in s.points if x > 0]
    ys = [y for s in panel.series for _, y in s.points if y > 0] + ([panel.limit] if panel.limit else [])
    if not xs or not ys:
        return [f'<text x="{left + 20}" y="{top + 40}">{escape(panel.title)}: no data</text>']
    x_low, x_high = min(xs) / 1.5, max(xs) * 1.5
    y_low, y_high = min(ys) / 2, max(ys) * 2
    plot_w = WIDTH - MARGIN[0] - MARGIN[1]
    plot_h = HEIGHT - MARGIN[2] - MARGIN[3]

    def px(x: float) -> float:
        return left + MARGIN[0] + plot_w * (math.log10(x) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low))

    def py(y: float) -> float:
        return top + MARGIN[2] + plot_h * (1 - (math.log10(y) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low)))

    out = [f'<text x="{left + WIDTH / 2}" y="{top + 20}" text-anchor="middle" font-weight="bold">'
           f'{escape(panel.title)}</text>',
           f'<rect x="{left + MARGIN[0]}" y="{top + MARGIN[2]}" width="{plot_w}" height="{plot_h}" fill="none" '
           'stroke="#999"/>']
    for tick in sorted(set(xs)):          # the sizes measured are the ticks
        out.append(f'<text x="{px(tick):.1f}" y="{top + HEIGHT - MARGIN[3] + 16}" text-anchor="middle" '
                   f'font-size="11">{_label(tick)}</text>')
    for tick in _ticks(y_low * 1.01, y_high / 1.01):
        out += [f'<line x1="{left + MARGIN[0]}" x2="{left + WIDTH - MARGIN[1]}" y1="{py(tick):.1f}" '
                f'y2="{py(tick):.1f}" stroke="#eee"/>',
                f'<text x="{left + MARGIN[0] - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" font-size="11">'
                f'{_label(tick)}</text>']
    out += [f'<text x="{left + WIDTH / 2}" y="{top + HEIGHT - 6}" text-anchor="middle" font-size="12">'
            f'{escape(panel.x_label)}</text>',
            f'<text x="{left + 14}" y="{top + HEIGHT / 2}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 {left + 14} {top + HEIGHT / 2})">{escape(panel.y_label)}</text>']
    if panel.limit:
        out.append(f'<line x1="{left + MARGIN[0]}" x2="{left + WIDTH - MARGIN[1]}" y1="{py(panel.limit):.1f}" '
                   f'y2="{py(panel.limit):.1f}" stroke="#d62728" stroke-dasharray="6 4"/>'
                   f'<text x="{left + WIDTH - MARGIN[1] - 4}" y="{py(panel.limit) - 4:.1f}" text-anchor="end" '
                   f'font-size="11" fill="#d62728">target {_label(panel.limit)}</text>')
    for index, series in enumerate(panel.series):
        colour = COLOURS[index % len(COLOURS)]
        points = sorted((x, y) for x, y in series.points if x > 0 and y > 0)
        if not points:
            continue
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>',
                    f'<text x="{px(x) + 5:.1f}" y="{py(y) - 5:.1f}" font-size="10" fill="{colour}">'
                    f'{_label(y)}</text>']
        out.append(f'<text x="{left + MARGIN[0] + 8}" y="{top + MARGIN[2] + 14 + 14 * index}" font-size="11" '
                   f'fill="{colour}">{escape(series.label)}</text>')
    return out


def svg(panels: Sequence[Panel], columns: int = 2) -> str:
    """The chart: `panels` in rows of `columns`."""
    rows = math.ceil(len(panels) / columns)
    body: list[str] = []
    for index, panel in enumerate(panels):
        body += _panel(panel, (index % columns) * WIDTH, (index // columns) * HEIGHT)
    width, height = WIDTH * columns, HEIGHT * rows
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">\n'
            f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
