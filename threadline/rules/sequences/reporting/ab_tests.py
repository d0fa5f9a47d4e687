"""A step's A/B test in the report: which variant each enrolment got, and the per-variant table with its verdicts.

The unit is an enrolment whose tested step went out with that variant: an email's variant is in its send record,
a task's comes from the enrolment's recorded ``variants``. Its outcomes count from that step's send (see
outcomes.py). The verdicts are ab_statistics.judge_against_first on replies per send, the first-listed variant
(in the config; else by name) as the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from threadline.rules.sequences.enrollment import Enrollment
from threadline.rules.sequences.reporting.ab_statistics import (
    PEEKING_CAVEAT,
    Interval,
    VariantCounts,
    Verdict,
    judge_against_first,
    wilson_interval,
)
from threadline.rules.sequences.reporting.outcomes import Outcomes
from threadline.rules.sequences.reporting.stats import SendRecord

__all__ = ["PEEKING_CAVEAT", "VariantRow", "VariantTest", "sent_variants", "variant_test"]


def sent_variants(enrollment: Enrollment, sends: Sequence[SendRecord]) -> dict[int, tuple[str, datetime]]:
    """Step index -> (variant, send time) for each A/B-tested step of this enrolment that went out. ``sends``:
    this enrolment's sends."""
    recorded = dict(enrollment.variants)
    found: dict[int, tuple[str, datetime]] = {}
    for send in sorted(sends, key=lambda s: s.sent_at):
        variant = send.variant or recorded.get(send.step_index)
        if variant and send.step_index not in found:
            found[send.step_index] = (variant, send.sent_at)
    return found


@dataclass(frozen=True)
class VariantRow:
    """One variant's line: sends (enrolments whose tested step went out with it), replies, the reply rate with
    its Wilson interval, and its outcomes (counted from the send)."""

    name: str
    outcomes: Outcomes
    interval: Interval

    @property
    def sends(self) -> int:
        return self.outcomes.reached

    @property
    def replies(self) -> int:
        return self.outcomes.replied


@dataclass(frozen=True)
class VariantTest:
    """One step's A/B test: the variants in baseline-first order, and each later one judged against the first."""

    step: int
    variants: list[VariantRow]
    verdicts: list[Verdict]
    caveat: str = PEEKING_CAVEAT


def variant_test(step: int, by_variant: Mapping[str, Outcomes], configured: Sequence[str] = ()) -> VariantTest:
    """The table for one step. ``configured``: the step's variant names in config order (the first is the
    baseline); variants only in the data (a removed one) follow by name, configured ones never sent show as 0."""
    names = [*configured, *sorted(set(by_variant) - set(configured))]
    rows = [VariantRow(name, outcomes, wilson_interval(outcomes.replied, outcomes.reached))
            for name in names for outcomes in [by_variant.get(name, Outcomes())]]
    verdicts = judge_against_first([VariantCounts(row.name, row.sends, row.replies) for row in rows])
    return VariantTest(step, rows, verdicts)
