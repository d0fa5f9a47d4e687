"""Enrollment: a contact's place in one sequence, and the entry rules that create it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from threadline.rules.conditions import Predicate
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences.config import SequenceSettings
from threadline.sync.events.records import Event

Status = Literal["active", "paused", "exited", "completed"]
OPEN_STATUSES = frozenset({"active", "paused"})


@dataclass(frozen=True)
class Enrollment:
    """One contact in one sequence. ``step`` is the index of the NEXT step to run; ``generation`` counts
    re-enrolments (1 for the first) and is part of every step's key, so a re-enrolment sends again;
    ``variants`` records the variant of each A/B-tested step (see variants.py)."""

    sequence: str
    contact_id: str
    enrolled_at: datetime
    status: Status = "active"
    step: int = 0
    paused_until: datetime | None = None
    exit_reason: str | None = None
    last_step_at: datetime | None = None
    generation: int = 1
    variants: tuple[tuple[int, str], ...] = ()      # (step index, variant name) of its A/B steps, once chosen

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def exited(self, reason: str) -> Enrollment:
        return replace(self, status="exited", exit_reason=reason, paused_until=None)


def event_values(event: Event) -> dict[str, Any]:
    """The event's part of the flat condition namespace: event.type, event.source, event.<data key>."""
    values = {f"event.{key}": value for key, value in event.data.items()}
    values["event.type"] = event.type
    values["event.source"] = event.source
    return values


def score_values(score: Mapping[str, Any]) -> dict[str, Any]:
    return {name if name.startswith("score.") else f"score.{name}": value for name, value in score.items()}


def may_enroll(settings: SequenceSettings, previous: Sequence[Enrollment], now: datetime) -> int | None:
    """The generation a new enrolment would get, or None when the entry rules forbid one now."""
    if not previous:
        return 1
    if any(enrollment.is_open for enrollment in previous):
        return None
    latest = max(previous, key=lambda enrollment: enrollment.generation)
    if settings.once_per_contact:
        if settings.reenroll_after_days is None:
            return None
        if now < latest.enrolled_at + timedelta(days=settings.reenroll_after_days):
            return None
    return latest.generation + 1


def triggered(settings: SequenceSettings, when: Predicate, contact: ContactFacts, events: Sequence[Event],
              score: Mapping[str, Any], now: datetime) -> bool:
    """Whether any of ``events`` is this sequence's trigger with its conditions holding, and recent enough
    (``max_trigger_age_hours``) that enrolling on it now still makes sense."""
    base = {**contact.flat(), **score_values(score)}
    oldest = now - timedelta(hours=settings.max_trigger_age_hours)
    for event in events:
        if event.type != settings.enroll_on or event.contact_id != contact.id or event.occurred_at < oldest:
            continue
        if settings.silent_days is not None and event.type == "contact.silent" and \
                float(event.data.get("days", 0)) < settings.silent_days:
            continue
        if when({**base, **event_values(event)}):
            return True
    return False
