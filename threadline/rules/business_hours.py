"""Business-hours calendars: SLA due times that skip nights, weekends and holidays.

Times are tz-aware throughout. Working windows are built from the calendar's local
wall-clock hours (zoneinfo), and durations are measured in elapsed time, so a due
time is correct across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from threadline.rules.holiday_calendar import ClosedDates, HolidayCalendar

#: Longest search for working time; a calendar with open days can never need this many.
_MAX_DAYS = 366 * 50


def known_zone(value: str) -> str:
    """`value` if it is an IANA time zone this machine knows; ValueError (a config error) otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class BusinessCalendar(BaseModel):
    """When the team works: open weekdays (Monday=0) from `start` to `end` local time, minus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field("UTC", description="IANA time zone, e.g. Europe/Berlin")
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="Open weekdays, Monday=0 ... Sunday=6")
    start: time = Field(time(9, 0), description="Local opening time")
    end: time = Field(time(17, 0), description="Local closing time (after start; overnight shifts are not supported)")
    holidays: ClosedDates = Field(default_factory=HolidayCalendar,
                                  description="Closed local dates: a public-holiday calendar "
                                              "({country: DE, subdivision: BY}) and/or explicit dates")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one open weekday is required")
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _opening_before_closing(self) -> BusinessCalendar:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open_on(self, day: date) -> bool:
        return day.weekday() in self.days and not self.holidays.closed_on(day)

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The open interval of a local date, in UTC."""
        zone = self.zone
        opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        return opens, closes


def _windows_from(moment: datetime, calendar: BusinessCalendar) -> Iterator[tuple[datetime, datetime]]:
    """Open windows (UTC) from the local day containing `moment` onwards."""
    day = moment.astimezone(calendar.zone).date()
    for offset in range(_MAX_DAYS):
        current = day + timedelta(days=offset)
        if calendar.is_open_on(current):
            yield calendar.window(current)


def _require_aware(*moments: datetime) -> None:
    if any(moment.tzinfo is None or moment.utcoffset() is None for moment in moments):
        raise ValueError("business-hours arithmetic needs tz-aware datetimes")


def add_business_hours(start: datetime, hours: float, calendar: BusinessCalendar) -> datetime:
    """The moment `hours` of open time after `start`, in the calendar's time zone.

    Work that ends exactly at closing time is due at closing (not next morning).
    `hours == 0` returns `start` itself. Raises ValueError for naive datetimes or negative hours.
    """
    _require_aware(start)
    if hours < 0:
        raise ValueError("hours must be >= 0")
    zone = calendar.zone
    if hours == 0:
        return start.astimezone(zone)
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    for opens, closes in _windows_from(start, calendar):
        cursor = max(cursor, opens)
        if cursor >= closes:
            continue
        if remaining <= closes - cursor:
            return (cursor + remaining).astimezone(zone)
        remaining -= closes - cursor
    raise ValueError("calendar has no open time within 50 years")  # pragma: no cover - unreachable with open days


def business_hours_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> float:
    """Open hours in [a, b); negative when b is before a. Raises ValueError for naive datetimes."""
    _require_aware(a, b)
    if b < a:
        return -business_hours_between(b, a, calendar)
    total = timedelta()
    for opens, closes in _windows_from(a, calendar):
        if opens >= b:
            break
        overlap = min(closes, b) - max(opens, a)
        if overlap > timedelta():
            total += overlap
    return total / timedelta(hours=1)
