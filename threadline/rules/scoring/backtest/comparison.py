"""Fold contacts, one at a time, into the counts of two rule sets side by side."""

from __future__ import annotations

from collections.abc import Sequence

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.backtest.bands import Bands
from threadline.rules.scoring.backtest.counters import SideTally
from threadline.rules.scoring.backtest.outcomes import OutcomeRules
from threadline.rules.scoring.backtest.replay import ContactReplay, Window, replay_contact
from threadline.rules.scoring.backtest.tier_changes import TierChanges
from threadline.rules.scoring.compiled import EventRow
from threadline.rules.scoring.engine import Scorer
from threadline.rules.scoring.mql import mql_threshold


class Backtest:
    """The proposed rule set against the current one (or alone, when there is none) over one window.

    ``add`` takes one contact and its events and keeps only fixed-size counts plus the first ``detail`` tier
    changes, so a pass over a million contacts holds no more than one batch of histories at a time."""

    def __init__(self, proposed: Scorer, current: Scorer | None, window: Window, outcomes: OutcomeRules,
                 *, detail: int = 20) -> None:
        self.window = window
        self.outcome_rules = outcomes
        self.scorers = {"proposed": proposed, **({"current": current} if current is not None else {})}
        self.sides = {label: SideTally(label, mql_threshold(scorer.settings), Bands.of(scorer.settings))
                      for label, scorer in self.scorers.items()}
        self.changes = TierChanges(keep=max(detail, 0))

    @property
    def proposed(self) -> SideTally:
        return self.sides["proposed"]

    @property
    def current(self) -> SideTally | None:
        return self.sides.get("current")

    def add(self, contact: ContactFacts, rows: Sequence[EventRow]) -> None:
        """Replay one contact under each rule set and count it."""
        replays: dict[str, ContactReplay] = {}
        for label, scorer in self.scorers.items():
            side = self.sides[label]
            replay = replay_contact(scorer, contact, rows, self.window, side.threshold)
            outcomes = self.outcome_rules.after(rows, replay.mql_at, self.window.end) if replay.mql_at is not None else frozenset()
            side.add(replay, outcomes, self.window)
            replays[label] = replay
        if "current" in replays:
            self.changes.add(contact.id, replays["current"], replays["proposed"])
