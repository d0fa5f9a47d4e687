"""`rules.reporting` in threadline.yaml: the window `threadline report` and /metrics look at, and which contact
field and stage order "stage progression" reads (CRM-dependent defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HUBSPOT_STAGES", "SALESFORCE_STAGES", "ReportingSettings", "StageOrder", "stage_order"]

#: HubSpot's lifecycle stages, in order (the `lifecyclestage` property's built-in values).
HUBSPOT_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                  "evangelist")
#: Salesforce's default Lead `Status` picklist, forward values only ("Closed - Not Converted" is not progress).
SALESFORCE_STAGES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted")
_DEFAULT_FIELDS = {"hubspot": "lifecyclestage", "salesforce": "Status"}
_DEFAULT_STAGES = {"hubspot": HUBSPOT_STAGES, "salesforce": SALESFORCE_STAGES}


class ReportingSettings(BaseModel):
    """The whole ``rules.reporting`` section."""

    model_config = ConfigDict(extra="forbid")

    stage_field: str | None = Field(None, min_length=1, description="Contact field whose forward moves count as "
                                    "stage progression (default: lifecyclestage in HubSpot, Status in Salesforce)")
    stages: list[str] | None = Field(None, min_length=1, description="That field's values in forward order; values "
                                     "not listed never count as progress (default: HubSpot's lifecycle stages, "
                                     "Salesforce's Lead Status picklist without 'Closed - Not Converted')")
    window_days: int = Field(30, ge=1, description="Reports look at enrolments of the last this many days")
    follow_days: int = Field(30, ge=1, description="Each enrolment's outcomes count for this many days after it")


@dataclass(frozen=True)
class StageOrder:
    """A stage field and its values in forward order (compared case-insensitively, shown as configured)."""

    field: str
    stages: tuple[str, ...]

    def rank(self, value: object) -> int | None:
        """The value's place in the order (0 = first), None when it is not one of the stages."""
        wanted = str(value).casefold() if value is not None else None
        return next((i for i, stage in enumerate(self.stages) if stage.casefold() == wanted), None)

    def is_field(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() == self.field.casefold()


def stage_order(settings: ReportingSettings, crm_kind: str) -> StageOrder | None:
    """The configured field and order, each defaulting by CRM; None when neither is known (another CRM)."""
    field = settings.stage_field or _DEFAULT_FIELDS.get(crm_kind)
    stages = tuple(settings.stages) if settings.stages else _DEFAULT_STAGES.get(crm_kind)
    return StageOrder(field, stages) if field and stages else None
