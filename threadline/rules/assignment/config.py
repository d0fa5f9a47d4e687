"""`rules.assignment` in threadline.yaml: reps, ordered routing rules, trigger, SLA and breach policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from threadline.rules.business_hours import BusinessCalendar

Strategy = Literal["round_robin", "weighted", "least_load"]

def _id_text(value: Any) -> Any:
    """A CRM owner id written as a YAML number (90001) is the text it stands for. Only whole numbers: a float
    or a bool there is a mistake, and secrets stay strict (YAML reads 0123 as octal)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: A CRM owner id (HubSpot owner id, Salesforce user id); `owner_id: 90001` unquoted is accepted.
OwnerId = Annotated[str, BeforeValidator(_id_text)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rep(_Section):
    """A sales rep who can receive contacts."""

    owner_id: OwnerId = Field(min_length=1, description="CRM owner id (HubSpot owner id / Salesforce user id)")
    name: str = Field("", description="Shown in reasons and plan output")
    weight: int = Field(1, ge=1, description="Share of contacts under the weighted strategy")
    capacity: int | None = Field(None, ge=0, description="Max open Threadline follow-up tasks; at capacity the rep is skipped")
    away: bool = Field(False, description="Away reps are skipped (vacation, leave)")
    teams: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.owner_id


class RoutingRule(_Section):
    """Contacts matching `when` go to `reps` (or the members of `team`) by `strategy`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="Unique; names the rule in tasks, audit and plan (assignment:<name>)")
    when: dict[str, Any] = Field(default_factory=dict, description="Conditions over contact.* and score.*; {} matches all")
    strategy: Strategy = "round_robin"
    reps: list[str] | None = Field(None, description="Owner ids, in rotation order")
    team: str | None = Field(None, description="All reps listing this team, in the order of `reps`")

    @model_validator(mode="after")
    def _reps_or_team(self) -> RoutingRule:
        if (self.reps is None) == (self.team is None):
            raise ValueError("give exactly one of reps or team")
        return self


class Sla(_Section):
    """The follow-up task created for the new owner."""

    hours: float = Field(24, gt=0, description="Business hours until the task is due")
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    task_subject: str = Field("Follow up: {name}",
                              description="Placeholders: {name} {email} {first_name} {last_name} {company} {domain} {owner} {rule}")
    priority: Literal["HIGH", "MEDIUM", "LOW"] = "HIGH"


class Breach(_Section):
    """What happens when a follow-up task is still open after its due time."""

    action: Literal["reassign", "escalate", "none"] = "none"
    escalate_to: str | None = Field(None, description="Owner id who gets the escalation task (required for escalate; "
                                                      "fallback for reassign when nobody else is available)")


class AssignmentSettings(_Section):
    """Owner assignment: when a contact becomes assignable, who gets it, and the follow-up SLA."""

    reps: list[Rep] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list, description="Ordered; the first matching rule wins")
    trigger: dict[str, Any] = Field(default_factory=dict,
                                    description='Conditions that make a contact assignable, e.g. {"score.tier": "mql"}; {} = any')
    only_unowned: bool = Field(True, description="Never reassign a contact that already has an owner")
    sticky_by_domain: bool = Field(True, description="Same company email domain -> same owner, when that owner is an "
                                                     "available rep (free-mail domains never count)")
    owner_field: str = Field("hubspot_owner_id", description='CRM owner field: "hubspot_owner_id" or "OwnerId"')
    sla: Sla = Field(default_factory=Sla)
    on_breach: Breach = Field(default_factory=Breach)

    def rep(self, owner_id: str) -> Rep | None:
        return next((rep for rep in self.reps if rep.owner_id == owner_id), None)
