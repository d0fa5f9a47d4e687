"""`rules:` in threadline.yaml: scoring, assignment and sequences, plus the guard on large changes.

It lives with the rule layer (not in `threadline.config`) so that the rules never import the application's
settings; `threadline.config.models.Settings` nests it under `rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.scoring.config import ScoringSettings
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.validate import SEQUENCE_TYPES
from threadline.sync.events.records import BUILTIN_TYPES


@dataclass(frozen=True)
class WrittenField:
    """A contact field the rules write. `custom`: one of Threadline's own score fields (HubSpot creates it at
    start; Salesforce needs an admin to), with its `kind`; otherwise a field the CRM itself has (stage, owner)."""

    name: str
    setting: str                                  # the key path that names it ("rules.scoring.fields.total")
    custom: bool
    kind: Literal["number", "string"] | None = None


class RulesSettings(BaseModel):
    """The rule layer: scoring, assignment and sequences."""

    model_config = ConfigDict(extra="forbid")

    scoring: ScoringSettings | None = None
    assignment: AssignmentSettings | None = None
    sequences: list[SequenceSettings] = Field(default_factory=list, description="Multi-step outreach sent "
                                              "from the owner's mailbox (see config/sequences/examples.yaml)")
    unsubscribe_field: str | None = Field(None, description="CRM field that means 'unsubscribed' when true "
                                          "(hs_email_optout in HubSpot, HasOptedOutOfEmail in Salesforce)")
    max_share: float = Field(0.25, gt=0, le=1, description="A rule that would change more than this share of "
                             "contacts at once is held until `threadline plan --apply --confirm`")
    min_contacts_for_share_check: int = Field(20, ge=1, description="Below this many contacts the share check is off")

    def declared_event_types(self) -> frozenset[str]:
        """The event types POST /events accepts: the built-in ones, the sequence controls, those declared in
        `scoring.custom_events`, and those a sequence enrols on. Anything else is refused with these named."""
        custom = set(self.scoring.custom_events) if self.scoring else set()
        return frozenset(BUILTIN_TYPES | SEQUENCE_TYPES | custom | {s.enroll_on for s in self.sequences})

    def written_fields(self) -> list[WrittenField]:
        """Every contact field the scoring and assignment write, as configured (what `check` looks up in the
        CRM's schema, and what the engine makes sure of at start)."""
        written = []
        if self.scoring is not None:
            names, path = self.scoring.fields, "rules.scoring.fields"
            written += [WrittenField(names.total, f"{path}.total", True, "number"),
                        WrittenField(names.tier, f"{path}.tier", True, "string")]
            if self.scoring.fit_and_intent:
                written += [WrittenField(names.fit, f"{path}.fit", True, "number"),
                            WrittenField(names.intent, f"{path}.intent", True, "number")]
            if self.scoring.stages:
                written.append(WrittenField(names.stage, f"{path}.stage", False))
        if self.assignment is not None:
            written.append(WrittenField(self.assignment.owner_field, "rules.assignment.owner_field", False))
        return written
