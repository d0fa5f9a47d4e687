"""`threadline backtest --json`: the numbers of a Backtest as one JSON object with stable keys. The console and
HTML renderings are drawn from this same object, so the three always agree."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from threadline.rules.scoring.backtest import OUTCOMES, Backtest, BandCounts, SideTally
from threadline.rules.scoring.backtest.bands import BIN
from threadline.rules.scoring.backtest.outcomes import DEAL_COUNT_FIELDS, DEAL_EVENT, MEETING_EVENT

NO_THRESHOLD = "no MQL threshold in these rules"
#: The rule sets of a backtest in the order the renderings show them.
SIDES = ("current", "proposed")


def or_no_threshold(value: Any) -> str:
    """A count or threshold for display; None (the rule set has no MQL threshold) says so instead."""
    return NO_THRESHOLD if value is None else str(value)


def backtest_json(backtest: Backtest, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Window, outcome definitions, each rule set's numbers, and the tier changes between them."""
    window, rules = backtest.window, backtest.outcome_rules
    bins = _bin_range(backtest)
    sides = {label: _side(side, backtest, bins) for label, side in backtest.sides.items()}
    return {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "weeks": window.weeks},
        "contacts": backtest.proposed.contacts,
        "outcomes": {"days": rules.days, "meeting": [MEETING_EVENT],
                     "deal": [DEAL_EVENT, *(f"contact.updated {f} > 0" for f in DEAL_COUNT_FIELDS)],
                     "stage": {"field": rules.stage_field, "values": list(rules.stages)}},
        "current": sides.get("current"),
        "proposed": sides["proposed"],
        "tier_changes": _changes(backtest, labels or {}) if backtest.current is not None else None,
    }


def _side(side: SideTally, backtest: Backtest, bins: range) -> dict[str, Any]:
    has = side.threshold is not None
    start = backtest.window.start
    return {
        "mql_threshold": side.threshold,
        "note": None if has else NO_THRESHOLD,
        "mqls": side.mqls if has else None,
        "mql_at_start": side.mql_at_start if has else None,
        "mqls_per_week": [{"week": n + 1, "starts": (start + timedelta(days=7 * n)).date().isoformat(),
                           "mqls": side.mqls_by_week[n]} for n in range(backtest.window.weeks)] if has else None,
        "histogram": [{"from": n * BIN, "to": n * BIN + BIN - 1, "contacts": side.histogram[n]} for n in bins],
        "tiers": {tier or "(none)": side.tiers[tier] for tier in _tier_order(side)},
        "calibration": [{"band": name, **_band(counts)} for name, counts in side.band_rows()] if has else None,
        "calibration_total": _band(side.all_mqls) if has else None,
    }


def _tier_order(side: SideTally) -> list[str]:
    """The tiers reached, lowest first as the rule set orders them ("" for no tier, last)."""
    rank = {name: n for n, name in enumerate(side.bands.names)}
    return sorted(side.tiers, key=lambda tier: (tier == "", rank.get(tier, len(rank)), tier))


def _band(counts: BandCounts) -> dict[str, Any]:
    rate = counts.rate()
    return {"contacts": counts.contacts, "mqls": counts.mqls, **{o: counts.outcomes[o] for o in OUTCOMES},
            "any": counts.any_outcome, "rate": None if rate is None else round(rate, 4)}


def _bin_range(backtest: Backtest) -> range:
    """The histogram bins from the lowest to the highest seen under either rule set (empty ones included)."""
    seen = [n for side in backtest.sides.values() for n in side.histogram]
    return range(min(seen), max(seen) + 1) if seen else range(0)


def _changes(backtest: Backtest, labels: Mapping[str, str]) -> dict[str, Any]:
    changes = backtest.changes
    return {
        "total": changes.total,
        "moves": [{"from": a or "(none)", "to": b or "(none)", "contacts": n}
                  for (a, b), n in sorted(changes.moves.items())],
        "mql": {"both": changes.mql_both, "only_current": changes.mql_only_current,
                "only_proposed": changes.mql_only_proposed},
        "listed": len(changes.first),
        "contacts": [{"contact_id": c.contact_id, "contact": labels.get(c.contact_id),
                      "current": {"total": c.current_total, "tier": c.current_tier, "mql_at": _iso(c.current_mql_at)},
                      "proposed": {"total": c.proposed_total, "tier": c.proposed_tier,
                                   "mql_at": _iso(c.proposed_mql_at)}} for c in changes.first],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
