"""Which enrolments `threadline report` and the /metrics outcome gauges measure, and the rules they measure them
with (follow window, MQL threshold, stage order), from the settings and the command line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from threadline.config.models import Settings
from threadline.rules.scoring.mql import mql_threshold
from threadline.rules.sequences.reporting.outcomes import OutcomeRules
from threadline.rules.sequences.reporting.settings import stage_order


@dataclass(frozen=True)
class ReportWindow:
    """Which enrolments the report measures (on or after ``since``) and how long each is followed."""

    since: datetime
    follow: timedelta

    @classmethod
    def choose(cls, settings: Settings, now: datetime, *, since: datetime | None = None,
               window: timedelta | None = None, follow: timedelta | None = None) -> ReportWindow:
        """``since`` wins over ``window``; either defaults to rules.reporting (the last 30 days, followed 30 days)."""
        reporting = settings.rules.reporting
        start = since or now - (window or timedelta(days=reporting.window_days))
        return cls(start, follow or timedelta(days=reporting.follow_days))


def outcome_rules(settings: Settings, follow: timedelta | None) -> OutcomeRules:
    """The follow window, the MQL threshold (None without scoring or an MQL tier) and the stage order."""
    scoring = settings.rules.scoring
    threshold = mql_threshold(scoring) if scoring is not None else None
    return OutcomeRules(follow, threshold, stage_order(settings.rules.reporting, settings.crm.kind))


def score_field(settings: Settings) -> str | None:
    """The field the scoring writes the total to (None without scoring)."""
    return settings.rules.scoring.fields.total if settings.rules.scoring is not None else None
