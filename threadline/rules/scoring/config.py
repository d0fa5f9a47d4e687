"""Scoring settings as the admin writes them under ``rules.scoring`` (pydantic, extra keys forbidden).

Structure is checked here (types, signs, ranges); meaning — event types, field names,
operators, reachable thresholds — is checked by ``compile_scoring``, which reports every
problem at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Dimension = Literal["fit", "intent"]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Settings):
    """The rule fires when ``count`` matching events fall within ``days`` (see engine docs for the exact rule)."""

    count: int = Field(ge=1)
    days: float = Field(gt=0)


class ScoringRule(_Settings):
    """Event type + conditions on the event and the contact -> points in one dimension, optionally capped."""

    name: str = Field(min_length=1)
    event: str
    where: dict[str, Any] = Field(default_factory=dict)
    points: int
    dimension: Dimension = "intent"
    cap: int | None = Field(default=None, gt=0, description="most points (by magnitude) this rule may award")
    window: Window | None = None


class Decay(_Settings):
    """``points`` (negative) per full ``every_days`` without any event that fires a rule of ``dimension``."""

    points: int = Field(lt=0)
    every_days: float = Field(gt=0)
    dimension: Dimension = "intent"


class Reset(_Settings):
    """An event of this type zeroes the chosen dimensions (e.g. unsubscribed -> 0); later events count again."""

    event: str
    dimensions: list[Dimension] = Field(default_factory=lambda: list[Dimension](["intent", "fit"]), min_length=1)


class Tier(_Settings):
    """A named band of the total score; the highest tier whose ``min`` the total reaches wins."""

    name: str = Field(min_length=1)
    min: int


class StageRule(_Settings):
    """Reaching ``at_least`` moves the lifecycle stage forward to ``value`` (never backward)."""

    at_least: int
    value: str = Field(min_length=1)


class ScoreFields(_Settings):
    """CRM field names the score is written to."""

    total: str = "threadline_score"
    fit: str = "threadline_score_fit"
    intent: str = "threadline_score_intent"
    tier: str = "threadline_score_tier"
    stage: str = "lifecyclestage"


class ScoringSettings(_Settings):
    """The whole ``rules.scoring`` section."""

    rules: list[ScoringRule] = Field(default_factory=list)
    decay: Decay | None = None
    resets: list[Reset] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    stages: list[StageRule] = Field(default_factory=list, description="in stage order; thresholds increasing")
    fields: ScoreFields = Field(default_factory=ScoreFields)
    custom_events: list[str] = Field(default_factory=list, description="custom event types rules may name")
    fit_and_intent: bool = Field(default=True, description="write fit and intent fields besides the total")
    max_share: float = Field(default=0.25, gt=0, le=1, description="safety: plan stops above this share of contacts")
    mql_tier: str | None = Field(default=None, description="The tier whose threshold makes a contact an MQL in "
                                 "reports and backtests (default: a tier named 'mql', else the stage rule "
                                 "reaching marketingqualifiedlead)")
