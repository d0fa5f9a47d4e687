"""The computed sequence report, as sequence_report.py builds it and the text, JSON, HTML and metrics read it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.reporting.branches import BranchTaken
from threadline.rules.sequences.reporting.outcomes import OutcomeRules
from threadline.rules.sequences.reporting.sequence_outcomes import SequenceOutcomes
from threadline.rules.sequences.reporting.stats import SequenceStats


@dataclass
class SequenceReport:
    """The computed report: stats per sequence (configured ones included, even without enrollments), their
    outcome metrics (per sequence and per A/B variant) and branch counts, the rules they were computed with,
    the window start (None: every enrolment) and the configured sequences (step names, variant order)."""

    sequences: list[SequenceStats]
    replies_per_day: dict[date, int]
    step_kinds: dict[str, list[str]]
    outcomes: dict[str, SequenceOutcomes] = field(default_factory=dict)
    branches: Counter[BranchTaken] = field(default_factory=Counter)
    rules: OutcomeRules = field(default_factory=OutcomeRules)
    since: datetime | None = None
    configured: list[SequenceSettings] = field(default_factory=list)

    @property
    def enrolled(self) -> int:
        return sum(s.enrolled for s in self.sequences)
