"""Closed dates: a country's (and region's) public holidays from the `holidays` package, plus explicit dates.

One model serves the sequence sending window, `business_days` delays and the SLA business-hours calendar.
Dates are local dates: callers ask about the date in the window's or calendar's own time zone. Public
holidays are looked up lazily, one year at a time when a date in it is first asked about, and kept: a
window may be asked about next year's dates, and every contact's window asks about the same few years.
"""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache
from typing import Annotated, Any

import holidays
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator


@cache
def _supported() -> dict[str, list[str]]:
    """Country codes (ISO 3166 alpha-2 and their alpha-3 aliases) -> subdivision codes the package knows."""
    return holidays.list_supported_countries()


@lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays (observed substitute days included) of `country`/`subdivision` in `year`."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def _listing(codes: list[str]) -> str:
    return ", ".join(codes) if codes else "(none: this country has no subdivisions)"


class HolidayCalendar(BaseModel):
    """Closed local dates: the public holidays of `country` (and `subdivision`), plus explicit `dates`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = Field(None, description="Country whose public holidays are closed, as an ISO 3166 "
                                                  "code, e.g. DE (from the holidays package)")
    subdivision: str | None = Field(None, description="State or region of that country whose own public "
                                                      "holidays are closed too, e.g. BY (Bavaria)")
    dates: list[date] = Field(default_factory=list, description="Further closed local dates, e.g. 2026-12-24")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if code not in _supported():
            choices = sorted(key for key in _supported() if len(key) == 2)
            raise ValueError(f"unknown country {value!r}: must be one of {_listing(choices)}")
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "country" not in info.data:
            return value  # the country itself is wrong, and already reported
        country = info.data["country"]
        if country is None:
            raise ValueError("a country is required with a subdivision (e.g. country: DE, subdivision: BY)")
        choices = _supported()[country]
        match = next((code for code in choices if code.upper() == value.strip().upper()), None)
        if match is None:
            raise ValueError(f"unknown subdivision {value!r} of {country}: must be one of {_listing(choices)}")
        return match

    def closed_on(self, day: date) -> bool:
        """True when the local date `day` is one of `dates` or a public holiday of the country/subdivision."""
        if day in self.dates:
            return True
        return self.country is not None and day in _public_holidays(self.country, self.subdivision, day.year)


def _from_date_list(value: Any) -> Any:
    """`holidays: [2026-12-24, ...]`, the older shape, is a calendar of explicit dates only."""
    return {"dates": value} if isinstance(value, list) else value


#: A `holidays:` setting: `{country: DE, subdivision: BY, dates: [...]}`, or a plain list of closed dates.
ClosedDates = Annotated[
    HolidayCalendar,
    BeforeValidator(_from_date_list, json_schema_input_type=HolidayCalendar | list[date]),
]
