"""Human lines for ``threadline explain CONTACT``: each contribution, then the sum."""

from __future__ import annotations

from threadline.rules.scoring.results import ScoreResult


def explain(result: ScoreResult) -> list[str]:
    """One line per contribution in time order ("+25 demo-request (2026-11-20 14:03)"), then
    "= 62 (fit 20, intent 42), tier solution, stage marketingqualifiedlead"."""
    lines = [f"{c.points:+d} {c.note} ({c.at:%Y-%m-%d %H:%M})" for c in result.contributions]
    summary = f"= {result.total} (fit {result.fit}, intent {result.intent})"
    if result.tier:
        summary += f", tier {result.tier}"
    if result.stage:
        summary += f", stage {result.stage}"
    return [*lines, summary]
