"""One contact replayed through one rule set: its score at the end of the window and when it became an MQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.backtest.facts_over_time import facts_over_time
from threadline.rules.scoring.compiled import EventRow
from threadline.rules.scoring.engine import JUST_BEFORE, Scorer, ScoreResult


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


def replay_contact(scorer: Scorer, contact: ContactFacts, rows: Sequence[EventRow], window: Window,
                   threshold: int | None) -> ContactReplay:
    """Replay ``contact``'s events in time order. "Became MQL" needs a rise across ``threshold`` inside the
    window: a contact already at or above it at the start does not count again unless it first fell below
    (decay, a reset) and then rose again. Without a threshold only the final score is computed."""
    result, totals = _score_over_time(scorer, contact, rows, window)
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


def _score_over_time(scorer: Scorer, contact: ContactFacts, rows: Sequence[EventRow], window: Window
                     ) -> tuple[ScoreResult, list[tuple[datetime, int]]]:
    """The score at the window's end and the totals over time, each stretch of the contact's history judged on
    the facts it had then (facts_over_time): what the daemon, rescoring on each change, saw at each moment."""
    stretches = [s for s in facts_over_time(contact, rows, scorer.contact_fields)
                 if s[0] is None or s[0] <= window.end]
    # A stretch whose successor starts by window.start only yields totals up to window.start, and the
    # window.start mark of a later stretch overrides those: judge the stretch holding window.start from the
    # contact's beginning instead. Its totals before its own start fall before window.start too.
    while len(stretches) > 1 and (next_start := stretches[1][0]) is not None and next_start <= window.start:
        stretches.pop(0)
    stretches[0] = (None, stretches[0][1])
    if len(stretches) == 1:
        return scorer.score_over_time(stretches[0][1], rows, window.end, marks=(window.start,))
    totals: list[tuple[datetime, int]] = []
    result: ScoreResult | None = None
    for index, (start, facts) in enumerate(stretches):
        following = stretches[index + 1][0] if index + 1 < len(stretches) else None
        end = window.end if following is None else following - JUST_BEFORE
        result, seen = scorer.score_over_time(facts, rows, end, marks=(window.start, end))
        totals += [(moment, total) for moment, total in seen if start is None or moment >= start]
    assert result is not None
    return result, totals
