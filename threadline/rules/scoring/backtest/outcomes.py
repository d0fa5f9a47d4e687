"""What happened to a contact after it became an MQL: a meeting, a deal, a sales stage, within N days."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from threadline.rules.scoring.compiled import EventRow

#: The outcomes counted, in the order tables show them.
OUTCOMES = ("meeting", "deal", "stage")
#: Stages that mean sales took the contact on (HubSpot lifecycle stages; a Salesforce lead status such as
#: "Qualified" or "Converted" can be given instead with `--outcome-stage`). Compared case-insensitively.
SALES_STAGES = ("salesqualifiedlead", "opportunity", "customer")
#: Contact fields counting the contact's deals (HubSpot); a rise from nothing to a positive number is a new deal.
DEAL_COUNT_FIELDS = ("num_associated_deals",)
#: A custom event (posted to /events) that says a deal was created for the contact.
DEAL_EVENT = "deal.created"
MEETING_EVENT = "meeting.booked"


@dataclass(frozen=True)
class OutcomeRules:
    """Which stored events count as which outcome, and how long after the MQL moment they may come."""

    stage_field: str = "lifecyclestage"
    stages: tuple[str, ...] = SALES_STAGES
    days: float = 30

    def outcome_of(self, type_: str, data: Mapping[str, Any]) -> str | None:
        """"meeting", "deal", "stage" or None for one event."""
        if type_ == MEETING_EVENT:
            return "meeting"
        if type_ == DEAL_EVENT:
            return "deal"
        if type_ != "contact.updated":
            return None
        field = data.get("field")
        if field in DEAL_COUNT_FIELDS and _count(data.get("new")) > 0 >= _count(data.get("old")):
            return "deal"
        if field == self.stage_field and str(data.get("new") or "").casefold() in {s.casefold() for s in self.stages}:
            return "stage"
        return None

    def after(self, rows: Iterable[EventRow], moment: datetime, end: datetime) -> frozenset[str]:
        """The outcomes among ``rows`` from ``moment`` up to ``days`` later but not after ``end`` (the replay's
        end: what came later was not known then). Both ends included: a meeting booked at the very moment that
        made the contact an MQL counts."""
        until = min(moment + timedelta(days=self.days), end)
        found = {self.outcome_of(type_, data) for _, type_, at, _, data in rows if moment <= at <= until}
        return frozenset(outcome for outcome in found if outcome is not None)


def _count(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0
