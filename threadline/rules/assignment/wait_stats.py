"""Handoff metrics, part 3: the numbers per owner and overall: counts, the median and 90th percentile of each
wait, and the SLA outcomes.

Percentiles are nearest-rank (see `nearest_rank`): always one of the observed durations, never interpolated.
A contact not touched yet counts as waiting: it is in `handed_off` and in the MQL -> owner wait, and stays out
of the two waits that end at the first touch (they have not ended).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.rules.assignment.handoff import Handoff
from threadline.rules.assignment.sla_outcome import FollowUpTask


def nearest_rank(values: Sequence[timedelta], percent: int) -> timedelta | None:
    """The nearest-rank percentile: with the n values sorted, the one at 1-based rank ceil(percent / 100 * n),
    i.e. the smallest value with at least `percent`% of the values at or below it. The median (50) of an even
    count is the lower of the two middle values. None for no values."""
    if not values:
        return None
    rank = max(1, -(-percent * len(values) // 100))      # integer ceiling: no float rounding at 90 * 70
    return sorted(values)[rank - 1]


@dataclass(frozen=True)
class Spread:
    """A wait over `count` handoffs: its median and 90th percentile (nearest-rank); None when count is 0."""

    count: int
    median: timedelta | None
    p90: timedelta | None


def spread(values: Sequence[timedelta]) -> Spread:
    return Spread(len(values), nearest_rank(values, 50), nearest_rank(values, 90))


@dataclass(frozen=True)
class HandoffGroup:
    """One owner's handoffs (owner_id None: everyone's) and the SLA outcomes of the follow-up tasks they got."""

    owner_id: str | None
    handed_off: int
    touched: int
    waiting: int
    mql_to_assigned: Spread
    assigned_to_touch: Spread
    mql_to_touch: Spread
    kept: int
    breached: int
    open: int


@dataclass(frozen=True)
class HandoffStats:
    """Per owner (by owner id) and overall."""

    owners: list[HandoffGroup]
    overall: HandoffGroup


def handoff_stats(handoffs: Sequence[Handoff], tasks: Sequence[FollowUpTask], now: datetime) -> HandoffStats:
    """Group by owner: a handoff by the owner holding the contact, a follow-up task by the owner it was for
    (so an owner whose task breached and whose contact was reassigned shows with that breach)."""
    owners = sorted({h.owner_id for h in handoffs} | {t.owner_id for t in tasks})
    groups = [_group(owner, [h for h in handoffs if h.owner_id == owner], [t for t in tasks if t.owner_id == owner],
                     now) for owner in owners]
    return HandoffStats(groups, _group(None, handoffs, tasks, now))


def _group(owner_id: str | None, handoffs: Sequence[Handoff], tasks: Sequence[FollowUpTask],
           now: datetime) -> HandoffGroup:
    touched = [h for h in handoffs if h.first_touch_at is not None]
    outcomes = [task.outcome(now) for task in tasks]
    return HandoffGroup(
        owner_id, len(handoffs), len(touched), len(handoffs) - len(touched),
        spread([h.mql_to_assigned for h in handoffs]),
        spread([h.assigned_to_touch for h in touched if h.assigned_to_touch is not None]),
        spread([h.mql_to_touch for h in touched if h.mql_to_touch is not None]),
        outcomes.count("kept"), outcomes.count("breached"), outcomes.count("open"))
