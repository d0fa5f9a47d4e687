"""Outcome metrics of enrolments, the numbers the playbooks name: reply rate, meeting-booked rate, completion rate,
stage progression, lead-to-MQL conversion and median time to first reply.

Each enrolment is followed from its start (the enrolment itself; for an A/B variant, the send of the tested step)
until ``follow`` after the enrolment or the contact's next enrolment in the same sequence, whichever is first.
An :class:`Outcomes` is a sum of 0/1 counts, so numbers computed per batch of contacts add up (:meth:`Outcomes.add`).
Pure: nothing here reads the store or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from threadline.rules.conditions import as_number
from threadline.rules.sequences.enrollment import Enrollment
from threadline.rules.sequences.reporting.settings import StageOrder
from threadline.rules.sequences.reporting.stats import SendRecord
from threadline.sync.events.records import Event

__all__ = ["Followed", "OutcomeRules", "Outcomes", "ScorePoint", "enrollment_outcomes", "rate_text", "score_points"]

REPLY, MEETING, UPDATED = "reply.received", "meeting.booked", "contact.updated"


@dataclass(frozen=True)
class ScorePoint:
    """The contact's total score as of ``at`` (a scoring write, or the CRM's echo of one)."""

    at: datetime
    total: float


@dataclass(frozen=True)
class OutcomeRules:
    """What the metrics need from the config: the follow window (None: until the next enrolment), the total score
    that makes an MQL (None: no MQL conversion is computed) and the stage field with its order (None: no stage
    progression is computed)."""

    follow: timedelta | None = None
    mql_threshold: float | None = None
    stages: StageOrder | None = None


@dataclass(frozen=True)
class Followed:
    """One enrolment to measure, observed from ``start`` until (not including) ``until``."""

    enrollment: Enrollment
    start: datetime
    until: datetime


@dataclass
class Outcomes:
    """Counts over some enrolments. Rates are None while their denominator is 0.

    ``reached``: got at least one send in the window; ``mql_eligible``: below the MQL threshold at the start
    (contacts already at or above it cannot convert and are left out); ``stage_reached``: for the enrolments that
    moved forward, the highest stage each reached.
    """

    enrolled: int = 0
    reached: int = 0
    replied: int = 0
    meetings: int = 0
    completed: int = 0
    progressed: int = 0
    mql_eligible: int = 0
    mql_crossed: int = 0
    stage_reached: dict[str, int] = field(default_factory=dict)
    reply_times: list[timedelta] = field(default_factory=list)

    def add(self, other: Outcomes) -> Outcomes:
        """Add ``other`` (disjoint enrolments) into this one; returns self. ``reply_times`` stay in the order
        added (the median sorts them)."""
        for name in ("enrolled", "reached", "replied", "meetings", "completed", "progressed", "mql_eligible",
                     "mql_crossed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for stage, count in other.stage_reached.items():
            self.stage_reached[stage] = self.stage_reached.get(stage, 0) + count
        self.reply_times.extend(other.reply_times)
        return self

    @property
    def reply_rate(self) -> float | None:
        """Replied / reached (an enrolment nothing was sent to cannot reply to the sequence)."""
        return _share(self.replied, self.reached)

    @property
    def meeting_rate(self) -> float | None:
        """Enrolments with a meeting booked / enrolled."""
        return _share(self.meetings, self.enrolled)

    @property
    def completion_rate(self) -> float | None:
        """Enrolments that ran every step / enrolled."""
        return _share(self.completed, self.enrolled)

    @property
    def progression_rate(self) -> float | None:
        """Enrolments whose stage moved forward / enrolled."""
        return _share(self.progressed, self.enrolled)

    @property
    def mql_conversion(self) -> float | None:
        """Enrolments that crossed the MQL threshold / those below it at the start."""
        return _share(self.mql_crossed, self.mql_eligible)

    @property
    def median_time_to_first_reply(self) -> timedelta | None:
        """From the first send to the first reply, over the enrolments that replied."""
        # statistics.median sorts, adds and halves, all of which timedelta does; typeshed allows numbers only.
        return median(self.reply_times) if self.reply_times else None  # type: ignore[type-var]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rate_text(value: float | None) -> str:
    """A rate as a whole percentage, "–" while it has no denominator."""
    return "–" if value is None else f"{value:.0%}"


def enrollment_outcomes(followed: Followed, sends: Sequence[SendRecord], events: Sequence[Event],
                        scores: Sequence[ScorePoint], rules: OutcomeRules) -> Outcomes:
    """One enrolment's outcomes (every count 0 or 1). ``sends``: this enrolment's sends; ``events``: its contact's
    events and ``scores`` its score history, each oldest first and unfiltered (the stage and score at the start
    are read from before it)."""
    start, until = followed.start, followed.until
    own = sorted((s for s in sends if start <= s.sent_at < until), key=lambda s: s.sent_at)
    seen = [e for e in events if start <= e.occurred_at < until]
    out = Outcomes(enrolled=1, completed=int(followed.enrollment.status == "completed"), reached=int(bool(own)),
                   meetings=int(any(e.type == MEETING for e in seen)))
    reply = next((e for e in seen if e.type == REPLY and own and e.occurred_at >= own[0].sent_at), None)
    if reply is not None:
        out.replied, out.reply_times = 1, [reply.occurred_at - own[0].sent_at]
    if rules.mql_threshold is not None:
        _count_mql(out, followed, scores, rules.mql_threshold)
    if rules.stages is not None:
        _count_stage(out, followed, events, rules.stages)
    return out


def _count_mql(out: Outcomes, followed: Followed, scores: Sequence[ScorePoint], threshold: float) -> None:
    """Below the threshold at the start (no score yet counts as below), then at or above it within the window."""
    before = [p.total for p in scores if p.at <= followed.start]
    if before and before[-1] >= threshold:
        return
    out.mql_eligible = 1
    out.mql_crossed = int(any(followed.start < p.at < followed.until and p.total >= threshold for p in scores))


def _count_stage(out: Outcomes, followed: Followed, events: Sequence[Event], order: StageOrder) -> None:
    """Forward = a stage later in the order than the one at the start; the highest reached is counted."""
    changes = [e for e in events if e.type == UPDATED and order.is_field(e.data.get("field"))]
    start_rank = _rank_at(changes, followed.start, order)
    later = [order.rank(e.data.get("new")) for e in changes if followed.start < e.occurred_at < followed.until]
    highest = max((rank for rank in later if rank is not None), default=None)
    if highest is not None and highest > (-1 if start_rank is None else start_rank):
        out.progressed = 1
        out.stage_reached = {order.stages[highest]: 1}


def _rank_at(changes: Sequence[Event], at: datetime, order: StageOrder) -> int | None:
    """The stage as of ``at``: the last change before it, else the first change after it says what it was."""
    before = [e for e in changes if e.occurred_at <= at]
    if before:
        return order.rank(before[-1].data.get("new"))
    after = [e for e in changes if e.occurred_at > at]
    return order.rank(after[0].data.get("old")) if after else None


def score_points(writes: Iterable[ScorePoint], events: Iterable[Event], total_field: str) -> list[ScorePoint]:
    """A contact's score history, oldest first: the scoring's own writes plus the CRM's ``contact.updated`` echo
    of the total field (a score set or changed in the CRM counts too). Values that are not numbers are skipped."""
    points = list(writes)
    for event in events:
        if event.type == UPDATED and event.data.get("field") == total_field:
            value = as_number(event.data.get("new"))
            if value is not None:
                points.append(ScorePoint(event.occurred_at, value))
    return sorted(points, key=lambda p: p.at)

