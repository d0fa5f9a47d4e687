"""What scoring returns: the scores, the tier and stage reached, and every contribution that made them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Contribution:
    """One change to a score: a rule that fired, a decay step or a reset. ``points`` is what actually applied
    (after caps and the floor at 0), so the contributions of a result always sum to its total."""

    rule: str                 # rule name, "decay" or "reset"
    points: int
    at: datetime
    event_id: str | None      # the event that caused it (None for decay)
    note: str                 # human text: "pricing-page 2 times in 7 days", "decay: 60 days inactive"


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A contact's score as of ``now``: fit + intent = total; ``stage`` is the furthest stage the score reached."""

    fit: int
    intent: int
    total: int
    tier: str | None
    stage: str | None
    contributions: tuple[Contribution, ...]
    next_change: datetime | None = None       # when the score changes next with no new event (a decay step)

    def flat(self) -> dict[str, Any]:
        """The score's part of the flat condition namespace (for assignment): {"score.total": ..., ...}."""
        return {"score.total": self.total, "score.fit": self.fit, "score.intent": self.intent,
                "score.tier": self.tier}
