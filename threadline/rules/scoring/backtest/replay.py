"""One contact replayed through one rule set: its score at the end of the window and when it became an MQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.compiled import EventRow
from threadline.rules.scoring.engine import Scorer


@dataclass(frozen=True, slots=True)
class Window:
    """The replayed period: crossings and outcomes count from just after ``start`` up to ``end`` (inclusive).
    Scores are built from every event up to the moment, before ``start`` too."""

    start: datetime
    end: datetime

    def week_of(self, moment: datetime) -> int:
        """0 for the window's first seven days, 1 for the next seven, ...; the window's very end falls in its
        last week (not in a week of its own)."""
        return min(int((moment - self.start) // timedelta(days=7)), self.weeks - 1)

    @property
    def weeks(self) -> int:
        """How many (possibly partial) weeks the window spans."""
        return max(1, -(-(self.end - self.start) // timedelta(days=7)))


@dataclass(frozen=True, slots=True)
class ContactReplay:
    """What one rule set makes of one contact: the total and tier at the window's end, whether it was an MQL
    at the start, and the first moment in the window its total rose from below the threshold to reach it."""

    total: int
    tier: str | None
    mql_at: datetime | None = None
    mql_at_start: bool = False


def replay_contact(scorer: Scorer, contact: ContactFacts, rows: Iterable[EventRow], window: Window,
                   threshold: int | None) -> ContactReplay:
    """Replay ``contact``'s events in time order. "Became MQL" needs a rise across ``threshold`` inside the
    window: a contact already at or above it at the start does not count again unless it first fell below
    (decay, a reset) and then rose again. Without a threshold only the final score is computed."""
    result, totals = scorer.score_over_time(contact, rows, window.end, marks=(window.start,))
    if threshold is None:
        return ContactReplay(result.total, result.tier)
    above = at_start = False
    for moment, total in totals:
        reached = total >= threshold
        if moment <= window.start:
            above = at_start = reached
        elif reached and not above:
            return ContactReplay(result.total, result.tier, moment, at_start)
        else:
            above = reached
    return ContactReplay(result.total, result.tier, None, at_start)
