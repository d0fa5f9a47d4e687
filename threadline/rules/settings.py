"""`rules:` in threadline.yaml: scoring, assignment and sequences, plus the guard on large changes.

It lives with the rule layer (not in `threadline.config`) so that the rules never import the application's
settings; `threadline.config.models.Settings` nests it under `rules`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.scoring.config import ScoringSettings
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.reporting.settings import ReportingSettings
from threadline.rules.sequences.validate import SEQUENCE_TYPES
from threadline.sync.events.records import BUILTIN_TYPES

#: Contact fields every adapter maps into the mirror itself; rules read them without naming a CRM field.
MIRRORED = frozenset({"id", "domain", "owner_id", "email", "firstname", "lastname", "company"})


@dataclass(frozen=True)
class WrittenField:
    """A contact field the rules write. `custom`: one of Threadline's own score fields (HubSpot creates it at
    start; Salesforce needs an admin to), with its `kind`; otherwise a field the CRM itself has (stage, owner,
    the unsubscribe flag). `values`: the values written, where the rules name them (tiers, stages), set at
    `values_setting`; a picklist/enumeration field must offer each of them."""

    name: str
    setting: str                                  # the key path that names it ("rules.scoring.fields.total")
    custom: bool
    kind: Literal["number", "string", "bool", "owner"] | None = None
    values: tuple[str, ...] = ()
    values_setting: str = ""


@dataclass(frozen=True)
class ReadField:
    """A contact field the rules read (conditions, sequence stop rules), named at `setting`. `values`: the
    values compared with it where the config lists them (exit_on_stage_change_to)."""

    name: str
    setting: str
    values: tuple[str, ...] = ()


class ManualEdits(BaseModel):
    """What a hand edit in the CRM does to a field the scoring writes (score, fit, intent, tier, stage)."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["overwrite", "pin"] = Field("overwrite", description="overwrite: the rules own their fields; "
                                                "the next rules step writes the rules' value back and the audit "
                                                "says it overwrote a manual edit. pin: the edited field keeps the "
                                                "hand-set value until one of `until` happens to the contact")
    until: list[str] = Field(default_factory=lambda: ["reply.received", "form.submitted", "meeting.booked"],
                             description="pin: event types that release a pinned field (after the edit)")


class RulesSettings(BaseModel):
    """The rule layer: scoring, assignment and sequences."""

    model_config = ConfigDict(extra="forbid")

    scoring: ScoringSettings | None = None
    assignment: AssignmentSettings | None = None
    sequences: list[SequenceSettings] = Field(default_factory=list, description="Multi-step outreach sent "
                                              "from the owner's mailbox (see config/sequences/examples.yaml)")
    unsubscribe_field: str | None = Field(None, description="CRM field that means 'unsubscribed' when true "
                                          "(hs_email_optout in HubSpot, HasOptedOutOfEmail in Salesforce)")
    manual_edits: ManualEdits = Field(default_factory=ManualEdits)
    reporting: ReportingSettings = Field(default_factory=ReportingSettings, description="What `threadline report` "
                                         "and /metrics measure: the enrolment window, the follow window, the stage "
                                         "field and its order")
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
            tiers = tuple(t.name for t in self.scoring.tiers)
            written += [WrittenField(names.total, f"{path}.total", True, "number"),
                        WrittenField(names.tier, f"{path}.tier", True, "string", tiers, "rules.scoring.tiers")]
            if self.scoring.fit_and_intent:
                written += [WrittenField(names.fit, f"{path}.fit", True, "number"),
                            WrittenField(names.intent, f"{path}.intent", True, "number")]
            if self.scoring.stages:
                stages = tuple(s.value for s in self.scoring.stages)
                written.append(WrittenField(names.stage, f"{path}.stage", False, "string", stages,
                                            "rules.scoring.stages"))
        if self.assignment is not None:
            written.append(WrittenField(self.assignment.owner_field, "rules.assignment.owner_field", False, "owner"))
        if self.unsubscribe_field:          # the unsubscribe link writes the opt-out there
            written.append(WrittenField(self.unsubscribe_field, "rules.unsubscribe_field", False, "bool"))
        return written

    def read_fields(self) -> list[ReadField]:
        """Every contact field a condition or stop rule reads, with the setting that names it (the CRM
        adapter pulls these into the mirror; `check` looks them up in the CRM's schema)."""
        specs: list[tuple[str, dict[str, Any]]] = []
        if self.scoring is not None:
            specs += [(f"rules.scoring.rules[{i}].where", r.where) for i, r in enumerate(self.scoring.rules)]
        if self.assignment is not None:
            specs.append(("rules.assignment.trigger", self.assignment.trigger))
            specs += [(f"rules.assignment.rules[{i}].when", r.when) for i, r in enumerate(self.assignment.rules)]
        read = []
        for i, sequence in enumerate(self.sequences):
            path = f"rules.sequences[{i}]"
            specs.append((f"{path}.enroll_when", sequence.enroll_when))
            specs += [(f"{path}.steps[{j}].branches[{k}].when", branch.when)
                      for j, step in enumerate(sequence.steps) for k, branch in enumerate(step.branches)]
            if sequence.exit_on_stage_change_to:
                read.append(ReadField(sequence.exit_stage_field, f"{path}.exit_stage_field",
                                      tuple(sequence.exit_on_stage_change_to)))
            if sequence.deal_closed_field:
                read.append(ReadField(sequence.deal_closed_field, f"{path}.deal_closed_field"))
            # Only a zone field the admin named: a default name the CRM lacks (Salesforce has no `timezone`)
            # would make every contact pull fail.
            if "timezone_field" in sequence.window.model_fields_set and sequence.window.timezone_field:
                read.append(ReadField(sequence.window.timezone_field, f"{path}.window.timezone_field"))
        read += [ReadField(key.split(".", 1)[1], setting) for setting, spec in specs for key in spec
                 if key.startswith("contact.")]
        return [field for field in read if field.name not in MIRRORED]

    def fingerprint(self) -> str:
        """A digest of everything that decides what scoring and assignment write: a changed rule set (points,
        thresholds, decay, reps, field names) has another fingerprint, so the next start re-evaluates everyone."""
        decisive = self.model_dump(mode="json", include={"scoring", "assignment", "unsubscribe_field", "manual_edits"})
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:32]
