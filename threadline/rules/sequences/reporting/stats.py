"""Sequence reporting: per sequence and per step, what was sent and what came back.

Outcomes are attributed per enrollment: events of the contact from its enrolment until the
contact's next enrolment in the same sequence. A reply, bounce or unsubscribe is credited to the
step whose email went out last before it; only the first of each kind per enrollment counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

from threadline.rules.sequences.enrollment import Enrollment
from threadline.sync.events.records import Event

__all__ = ["SendRecord", "SequenceStats", "StepStats", "followed_enrolments", "merge_stats", "next_enrolment", "replies_per_day",
           "sequence_stats"]

OUTCOMES = {"reply.received": "replied", "bounce.received": "bounced", "unsubscribed": "unsubscribed"}


@dataclass(frozen=True)
class SendRecord:
    """One step that went out (email sent or task created)."""

    sequence: str
    contact_id: str
    step_index: int
    sent_at: datetime
    variant: str | None = None      # the A/B variant this email went out with (None: the step has no test)


@dataclass
class StepStats:
    index: int
    sent: int = 0
    replied: int = 0
    bounced: int = 0
    unsubscribed: int = 0


@dataclass
class SequenceStats:
    """One sequence's numbers. ``reply_rate`` is replied / enrollments that got at least one send."""

    name: str
    enrolled: int = 0
    reached: int = 0
    sent: int = 0
    replied: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    meetings: int = 0
    completed: int = 0
    active: int = 0
    paused: int = 0
    exited: dict[str, int] = field(default_factory=dict)
    steps: list[StepStats] = field(default_factory=list)
    reply_times: list[timedelta] = field(default_factory=list)

    @property
    def reply_rate(self) -> float:
        return self.replied / self.reached if self.reached else 0.0

    @property
    def median_time_to_first_reply(self) -> timedelta | None:
        # statistics.median sorts, adds and halves, all of which timedelta does; typeshed allows numbers only.
        return median(self.reply_times) if self.reply_times else None  # type: ignore[type-var]


def sequence_stats(enrollments: Sequence[Enrollment], sends: Sequence[SendRecord],
                   events_by_contact: Mapping[str, Sequence[Event]],
                   follow: timedelta | None = None) -> list[SequenceStats]:
    """Stats per sequence (sorted by name), each with one StepStats per step index that was sent. ``follow``:
    count only what happened within this long after each enrolment (None: until the next enrolment)."""
    stats: dict[str, SequenceStats] = {}
    for enrollment, until, own in followed_enrolments(enrollments, sends, follow):
        entry = stats.setdefault(enrollment.sequence, SequenceStats(enrollment.sequence))
        events = [e for e in events_by_contact.get(enrollment.contact_id, ())
                  if enrollment.enrolled_at <= e.occurred_at < until]
        _count(entry, enrollment, own, events)
    for entry in stats.values():
        entry.steps.sort(key=lambda step: step.index)
    return [stats[name] for name in sorted(stats)]


def followed_enrolments(enrollments: Sequence[Enrollment], sends: Sequence[SendRecord], follow: timedelta | None
                        ) -> Iterator[tuple[Enrollment, datetime, list[SendRecord]]]:
    """Each enrolment (by sequence, contact, generation) with the end of its follow window (``follow`` after it
    enrolled, and never past the contact's next enrolment in the sequence) and its sends within it, oldest first:
    what every count of the report, the stats and the outcomes alike, reads an enrolment through."""
    by_enrollee: dict[tuple[str, str], list[SendRecord]] = {}
    for send in sorted(sends, key=lambda s: s.sent_at):
        by_enrollee.setdefault((send.sequence, send.contact_id), []).append(send)
    siblings: dict[tuple[str, str], list[Enrollment]] = {}
    for enrollment in enrollments:
        siblings.setdefault((enrollment.sequence, enrollment.contact_id), []).append(enrollment)
    for enrollment in sorted(enrollments, key=lambda e: (e.sequence, e.contact_id, e.generation)):
        key = (enrollment.sequence, enrollment.contact_id)
        until = next_enrolment(enrollment, siblings[key])
        if follow is not None:
            until = min(until, enrollment.enrolled_at + follow)
        yield enrollment, until, [s for s in by_enrollee.get(key, ()) if enrollment.enrolled_at <= s.sent_at < until]


def next_enrolment(enrollment: Enrollment, enrollments: Sequence[Enrollment]) -> datetime:
    """`enrollments`: the same contact's in the same sequence (the caller groups them; scanning every
    enrollment for each one was quadratic in the report's size)."""
    later = [e.enrolled_at for e in enrollments if e.generation > enrollment.generation]
    return min(later, default=datetime.max.replace(tzinfo=enrollment.enrolled_at.tzinfo))


def merge_stats(into: SequenceStats, part: SequenceStats) -> SequenceStats:
    """One sequence's stats over two disjoint sets of contacts, added up (the report counts in batches)."""
    for name in ("enrolled", "reached", "sent", "replied", "bounced", "unsubscribed", "meetings", "completed",
                 "active", "paused"):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    for reason, count in part.exited.items():
        into.exited[reason] = into.exited.get(reason, 0) + count
    for step in part.steps:
        mine = _step(into, step.index)
        for name in ("sent", "replied", "bounced", "unsubscribed"):
            setattr(mine, name, getattr(mine, name) + getattr(step, name))
    into.steps.sort(key=lambda step: step.index)
    into.reply_times += part.reply_times
    return into


def _step(entry: SequenceStats, index: int) -> StepStats:
    found = next((step for step in entry.steps if step.index == index), None)
    if found is None:
        found = StepStats(index)
        entry.steps.append(found)
    return found


def _count(entry: SequenceStats, enrollment: Enrollment, sends: list[SendRecord], events: list[Event]) -> None:
    entry.enrolled += 1
    if enrollment.status in ("completed", "active", "paused"):
        setattr(entry, enrollment.status, getattr(entry, enrollment.status) + 1)
    elif enrollment.status == "exited":
        reason = enrollment.exit_reason or "unknown"
        entry.exited[reason] = entry.exited.get(reason, 0) + 1
    for send in sends:
        _step(entry, send.step_index).sent += 1
    entry.sent += len(sends)
    entry.reached += bool(sends)
    entry.meetings += any(e.type == "meeting.booked" for e in events)
    if sends:
        _count_outcomes(entry, sends, events)


def _count_outcomes(entry: SequenceStats, sends: list[SendRecord], events: list[Event]) -> None:
    seen: set[str] = set()
    for event in sorted(events, key=lambda e: e.occurred_at):
        outcome = OUTCOMES.get(event.type)
        before = [s for s in sends if s.sent_at <= event.occurred_at]
        if outcome is None or outcome in seen or not before:
            continue
        seen.add(outcome)
        setattr(entry, outcome, getattr(entry, outcome) + 1)
        step = _step(entry, before[-1].step_index)
        setattr(step, outcome, getattr(step, outcome) + 1)
        if outcome == "replied":
            entry.reply_times.append(event.occurred_at - sends[0].sent_at)


def replies_per_day(enrollments: Sequence[Enrollment], events_by_contact: Mapping[str, Sequence[Event]]) -> dict[date, int]:
    """Replies from enrolled contacts (after their first enrolment) per UTC day, oldest first."""
    first: dict[str, datetime] = {}
    for enrollment in enrollments:
        known = first.get(enrollment.contact_id)
        first[enrollment.contact_id] = min(known, enrollment.enrolled_at) if known else enrollment.enrolled_at
    days: Counter[date] = Counter()
    for contact_id, since in first.items():
        for event in events_by_contact.get(contact_id, ()):
            if event.type == "reply.received" and event.occurred_at >= since:
                days[event.occurred_at.astimezone(UTC).date()] += 1
    return dict(sorted(days.items()))
