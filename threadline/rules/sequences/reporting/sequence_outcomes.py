"""Outcome metrics per sequence, and per variant of each A/B-tested step, over a set of enrolments.

Results for disjoint sets of contacts add up (:meth:`SequenceOutcomes.add`), so the report counts in batches.
Pure: nothing here reads the store or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from threadline.rules.sequences.enrollment import Enrollment
from threadline.rules.sequences.reporting.ab_tests import sent_variants
from threadline.rules.sequences.reporting.outcomes import (
    Followed,
    OutcomeRules,
    Outcomes,
    ScorePoint,
    enrollment_outcomes,
)
from threadline.rules.sequences.reporting.stats import SendRecord, followed_enrolments
from threadline.sync.events.records import Event

__all__ = ["SequenceOutcomes", "sequence_outcomes"]


@dataclass
class SequenceOutcomes:
    """One sequence's outcomes: over all its enrolments, and per tested step index per variant."""

    name: str
    overall: Outcomes = field(default_factory=Outcomes)
    variants: dict[int, dict[str, Outcomes]] = field(default_factory=dict)

    def add(self, other: SequenceOutcomes) -> SequenceOutcomes:
        """Add another batch's numbers for the same sequence; returns self."""
        self.overall.add(other.overall)
        for step, by_variant in other.variants.items():
            mine = self.variants.setdefault(step, {})
            for name, outcomes in by_variant.items():
                mine.setdefault(name, Outcomes()).add(outcomes)
        _sort_reply_times(self)
        return self


def sequence_outcomes(enrollments: Sequence[Enrollment], sends: Sequence[SendRecord],
                      events_by_contact: Mapping[str, Sequence[Event]],
                      scores_by_contact: Mapping[str, Sequence[ScorePoint]],
                      rules: OutcomeRules) -> dict[str, SequenceOutcomes]:
    """Outcomes per sequence name. ``sends``: done steps of these enrolments' contacts; events and scores per
    contact, oldest first."""
    found: dict[str, SequenceOutcomes] = {}
    for enrollment, until, own in followed_enrolments(enrollments, sends, rules.follow):
        entry = found.setdefault(enrollment.sequence, SequenceOutcomes(enrollment.sequence))
        events = events_by_contact.get(enrollment.contact_id, ())
        scores = scores_by_contact.get(enrollment.contact_id, ())
        followed = Followed(enrollment, enrollment.enrolled_at, until)
        entry.overall.add(enrollment_outcomes(followed, own, events, scores, rules))
        _add_variants(entry, followed, own, events, scores, rules)
    for entry in found.values():
        _sort_reply_times(entry)
    return found


def _sort_reply_times(entry: SequenceOutcomes) -> None:
    """Once per batch and per merge, not per enrolment: the enrolments' read order is not fixed, and sorted
    reply times make the same enrolments give equal results however they were batched."""
    for outcomes in [entry.overall, *(o for by_variant in entry.variants.values() for o in by_variant.values())]:
        outcomes.reply_times.sort()


def _add_variants(entry: SequenceOutcomes, followed: Followed, own: Sequence[SendRecord], events: Sequence[Event],
                  scores: Sequence[ScorePoint], rules: OutcomeRules) -> None:
    """Per tested step: the enrolment counts for its variant, followed from that step's send."""
    for step, (variant, sent_at) in sent_variants(followed.enrollment, own).items():
        from_send = Followed(followed.enrollment, sent_at, followed.until)
        outcomes = enrollment_outcomes(from_send, own, events, scores, rules)
        entry.variants.setdefault(step, {}).setdefault(variant, Outcomes()).add(outcomes)
