"""The running state of one contact's score while its events are replayed in time order.

Semantics (all arithmetic on integers):

- **Floor.** Neither dimension goes below 0; a contribution records what actually applied.
- **Caps.** A rule awards at most ``cap`` points by magnitude in total; the award that reaches
  the cap is cut to fit, later ones award nothing.
- **Windows.** A rule with ``window(count, days)`` keeps the times of its matching events since it
  last fired. When a matching event arrives, times more than ``days`` before it are dropped; if
  ``count`` remain, the rule fires (at this event) and forgets them all, so it fires again only
  after ``count`` *new* matching events within ``days``. Visits at days 0, 1, 2, 3 with count 2
  in 7 days fire at days 1 and 3.
- **Resets.** A reset event zeroes its dimensions at its time, and clears the caps and windows of
  the rules in those dimensions, so later events count again.
- **Decay.** The decay clock starts at the first event that fires a rule of the decay's
  dimension (or a reset of it) and restarts at each later one. Each full ``every_days`` period
  without such an event — between two of them, and from the last one to ``now`` — applies
  ``points`` once (floored at 0); one contribution per quiet gap.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from threadline.rules.scoring.compiled import CompiledRule
from threadline.rules.scoring.config import Decay
from threadline.rules.scoring.results import Contribution


class Tally:
    """Score state for one ``Scorer.score`` call. Not shared; not thread-safe (it needn't be)."""

    __slots__ = ("points", "used", "windows", "quiet_since", "peak", "contributions",
                 "_decay", "_decay_period")

    def __init__(self, decay: Decay | None) -> None:
        self.points = {"fit": 0, "intent": 0}
        self.used: dict[int, int] = {}                     # rule key -> points awarded (magnitude), for caps
        self.windows: dict[int, deque[datetime]] = {}      # rule key -> matching times since it last fired
        self.quiet_since: datetime | None = None           # last activity in the decay dimension
        self.peak = 0
        self.contributions: list[Contribution] = []
        self._decay = decay
        self._decay_period = timedelta(days=decay.every_days) if decay else None

    @property
    def decay_dimension(self) -> str | None:
        return self._decay.dimension if self._decay else None

    def award(self, rule: CompiledRule, at: datetime, event_id: str) -> None:
        """Apply one matching event of ``rule``: window first, then cap, then the floor."""
        if rule.window_span is not None and not self._window_fires(rule, rule.window_span, at):
            return
        points = rule.points
        note = rule.note
        if rule.cap is not None:
            used = self.used.get(rule.key, 0)
            allowed = min(abs(points), rule.cap - used)
            if allowed <= 0:
                return
            self.used[rule.key] = used + allowed
            if allowed < abs(points):
                points = allowed if points > 0 else -allowed
                note = f"{note} (cap {rule.cap} reached)"
        self._apply(rule.dimension, points, rule.name, at, event_id, note)

    def _window_fires(self, rule: CompiledRule, span: timedelta, at: datetime) -> bool:
        times = self.windows.get(rule.key)
        if times is None:
            times = self.windows[rule.key] = deque()
        times.append(at)
        oldest = at - span
        while times[0] < oldest:
            times.popleft()
        if len(times) < rule.window_count:
            return False
        times.clear()
        return True

    def _apply(self, dimension: str, points: int, rule: str, at: datetime, event_id: str | None, note: str) -> None:
        current = self.points[dimension]
        applied = max(points, -current)
        if applied == 0:
            return
        if applied != points:
            note = f"{note} (floored at 0)"
        self.points[dimension] = current + applied
        self.contributions.append(Contribution(rule, applied, at, event_id, note))

    def reset(self, dimensions: tuple[str, ...], rules: tuple[CompiledRule, ...], at: datetime,
              event_id: str, event_type: str) -> None:
        """Zero ``dimensions`` at ``at`` and clear caps and windows of ``rules`` (those in these dimensions)."""
        removed = sum(self.points[dimension] for dimension in dimensions)
        for dimension in dimensions:
            self.points[dimension] = 0
        for rule in rules:
            self.used.pop(rule.key, None)
            self.windows.pop(rule.key, None)
        if self.decay_dimension in dimensions:
            self.quiet_since = at
        if removed:
            self.contributions.append(Contribution("reset", -removed, at, event_id, f"reset by {event_type}"))

    def active(self, at: datetime) -> None:
        """Activity in the decay dimension at ``at``: settle decay for the quiet gap before it, restart the clock."""
        self.decay_until(at)
        self.quiet_since = at

    def decay_until(self, at: datetime) -> None:
        """Apply decay for every full period between the last activity and ``at``."""
        decay, since, period = self._decay, self.quiet_since, self._decay_period
        if decay is None or since is None or period is None:
            return
        periods = (at - since) // period
        if periods <= 0:
            return
        days = periods * decay.every_days
        self._apply(decay.dimension, periods * decay.points, "decay", since + periods * period,
                    None, f"decay: {days:g} days inactive")
        self.quiet_since = since + periods * period

    def next_decay(self) -> datetime | None:
        """When the next decay step falls due (after ``decay_until``), or None when it would change nothing:
        no decay, no activity yet, or nothing left to take in its dimension."""
        if self._decay is None or self.quiet_since is None or self._decay_period is None:
            return None
        if self.points[self._decay.dimension] <= 0:
            return None
        return self.quiet_since + self._decay_period

    def note_peak(self) -> None:
        total = self.points["fit"] + self.points["intent"]
        if total > self.peak:
            self.peak = total
