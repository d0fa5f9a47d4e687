"""`rules.sequences` in threadline.yaml: named multi-step sequences, their entry rules, stop rules and windows."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from threadline.rules.business_hours import known_zone
from threadline.rules.holiday_calendar import ClosedDates, HolidayCalendar


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delay(_Section):
    """Wait before a step, counted from the previous step (the first step: from enrolment).

    ``hours`` and ``days`` are elapsed time; ``business_days`` then moves on that many open days of
    the sending window (same local time of day), skipping closed weekdays and holidays.
    """

    hours: float = Field(0, ge=0)
    days: float = Field(0, ge=0)
    business_days: int = Field(0, ge=0)


#: A step's name: what a branch's ``goto`` and a step's ``then`` name ("end" ends the enrolment).
STEP_NAME = r"^[a-z0-9][a-z0-9_-]*$"
END = "end"


class Branch(_Section):
    """Checked when the step carrying it falls due, in order: the first branch that holds sends the enrolment to
    ``goto`` (a later step's name, or ``end``) instead. Conditions use the syntax of ``enroll_when``."""

    goto: str = Field(min_length=1, description="A later step's name, or 'end'")
    when: dict[str, Any] = Field(default_factory=dict, description="Conditions over contact.* and score.*")
    seen: dict[str, Any] | None = Field(None, description="Holds when at least one event since `since` matches "
                                        "these event.* conditions (event.type required), e.g. a pricing-page visit")
    not_seen: dict[str, Any] | None = Field(None, description="Holds when no event since `since` matches these "
                                            "event.* conditions (event.type required), e.g. no reply")
    since: Literal["previous_step", "enrolment"] = "previous_step"


class Variant(_Section):
    """One arm of a step's A/B test: what it changes (subject, body and/or delay; the rest is the step's own)."""

    name: str = Field(pattern=STEP_NAME)
    weight: float = Field(1, gt=0, description="Relative share of enrolments that get this variant")
    subject: str | None = Field(None, min_length=1)
    body: str | None = Field(None, min_length=1)
    delay: Delay | None = None


class _StepBase(_Section):
    name: str | None = Field(None, pattern=STEP_NAME, description="Needed when a branch or `then` names this step")
    delay: Delay = Field(default_factory=Delay)
    branches: list[Branch] = Field(default_factory=list, description="Checked when the step falls due; the first "
                                   "that holds goes to its step instead")
    then: str | None = Field(None, description="The step after this one (a later step's name, or 'end'); default: "
                             "the next in the list")
    variants: list[Variant] = Field(default_factory=list, description="An A/B test of this step: each enrolment "
                                    "gets one variant, chosen deterministically and recorded")
    winner: str | None = Field(None, description="Ends the step's A/B test: new enrolments get this variant; "
                               "enrolments already on another finish on it")


class EmailStep(_StepBase):
    """An email from the owner's mailbox. Subject and body are templates (tokens: contact, owner, company,
    unsubscribe_url, sequence, step)."""

    kind: Literal["email"] = "email"
    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)
    reply_in_thread: bool = Field(True, description="Send as a reply in the thread of the previous step's email")


class TaskStep(_StepBase):
    """A task for the owner (call, LinkedIn touch, to-do); subject and body are templates."""

    kind: Literal["task"] = "task"
    subject: str = Field(min_length=1)
    body: str = ""
    task_type: Literal["call", "linkedin", "todo"] = "todo"


Step = Annotated[EmailStep | TaskStep, Field(discriminator="kind")]


class SendingWindow(_Section):
    """When sequence email may go out, in the contact's local time (from ``timezone_field``, else the
    owner's zone, else ``default_timezone``)."""

    start: time = time(8, 0)
    end: time = time(18, 0)
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="Monday=0 ... Sunday=6")
    holidays: ClosedDates = Field(default_factory=HolidayCalendar,
                                  description="Closed local dates, also skipped by business_days: a public-holiday "
                                              "calendar ({country: DE, subdivision: BY}) and/or explicit dates")
    timezone_field: str | None = Field("timezone", description="Contact field holding an IANA zone")
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(day < 0 or day > 6 for day in value):
            raise ValueError("at least one weekday, each 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _start_before_end(self) -> SendingWindow:
        if self.start >= self.end:
            raise ValueError("start must be before end (overnight windows are not supported)")
        return self


class SequenceSettings(_Section):
    """One sequence: its steps, who enters it and when, what stops it, and when it may send."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    steps: list[Step] = Field(default_factory=list)
    enroll_on: str = Field(description="Event type that triggers enrolment (contact.silent: see silent_days)")
    enroll_when: dict[str, Any] = Field(default_factory=dict, description="Conditions over contact.*, event.*, score.*")
    silent_days: float | None = Field(None, gt=0, description="For enroll_on: contact.silent — days without "
                                      "email or reply in either direction")
    max_trigger_age_hours: float = Field(72, gt=0, description="A trigger event older than this enrols no one "
                                         "(the first sync mirrors history: a contact created years ago must not "
                                         "enter a contact.created sequence today)")
    once_per_contact: bool = True
    reenroll_after_days: float | None = Field(None, gt=0, description="With once_per_contact: allow a new "
                                              "enrolment this long after the previous one")
    on_reply: Literal["pause", "exit"] = "exit"
    exit_on_meeting: bool = Field(True, description="A meeting booked after enrolment ends it; false: the sequence "
                                  "goes on, and a branch can route on it (seen: {event.type: meeting.booked})")
    ooo_pause_days: float = Field(3, gt=0, description="Out-of-office pause when no return date can be read")
    exit_on_stage_change_to: list[str] = Field(default_factory=list)
    exit_stage_field: str = "lifecyclestage"
    deal_closed_field: str | None = Field(None, description="Contact field that, once set (not empty/false), exits")
    window: SendingWindow = Field(default_factory=SendingWindow)
    daily_cap_per_mailbox: int = Field(50, ge=1)
    spacing_minutes: float = Field(2, ge=0)
    from_mailbox: str | None = Field(None, description="Send from this configured mailbox when the contact's "
                                     "owner has none (else such steps wait and status says why)")
