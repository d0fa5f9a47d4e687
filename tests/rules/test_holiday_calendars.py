"""Public-holiday calendars (the `holidays` package) close days for SLA hours, sending windows and business days.

Germany, Bavaria (DE-BY) around the turn of 2026/2027: Dec 24 is a working day by law, Dec 25 and 26, Jan 1
and Jan 6 (Epiphany, Bavaria only, not Berlin) are public holidays. Easter 2027 (Good Friday Mar 26, Easter
Monday Mar 29) wraps the spring clock change on Sunday Mar 28; All Saints (Nov 1, Bavaria) follows the autumn
change on Sunday Oct 31. Every test passes its own `now`: nothing here reads the clock or sleeps.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from threadline.config.loading import ConfigError, parse_settings
from threadline.rules import holiday_calendar
from threadline.rules.assignment.config import AssignmentSettings
from threadline.rules.assignment.effects import follow_up_task
from threadline.rules.business_hours import BusinessCalendar, add_business_hours, business_hours_between
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.holiday_calendar import HolidayCalendar
from threadline.rules.sequences import (
    Delay,
    EmailStep,
    Enrollment,
    SendingWindow,
    SequenceSettings,
    compile_sequences,
)
from threadline.rules.sequences.schedule import after_delay, into_window

BERLIN = ZoneInfo("Europe/Berlin")
BAVARIA = {"country": "DE", "subdivision": "BY"}
BERLIN_STATE = {"country": "DE", "subdivision": "BE"}


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


def utc(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def sla_calendar(holidays: Any) -> BusinessCalendar:
    """Mon-Fri 09:00-17:00 Europe/Berlin, as an admin writes it in `assignment.sla.calendar`."""
    return BusinessCalendar.model_validate({"timezone": "Europe/Berlin", "start": "09:00", "end": "17:00",
                                            "holidays": holidays})


def window(holidays: Any) -> SendingWindow:
    return SendingWindow.model_validate({"start": "09:00", "end": "17:00", "default_timezone": "Europe/Berlin",
                                         "holidays": holidays})


# --- which dates are closed -------------------------------------------------------------------------------

def test_bavarian_calendar_closes_public_holidays_but_not_christmas_eve() -> None:
    bavaria = HolidayCalendar.model_validate(BAVARIA)
    closed = [day for day in (date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1),
                              date(2027, 1, 5), date(2027, 1, 6)) if bavaria.closed_on(day)]
    assert closed == [date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2027, 1, 6)]


def test_epiphany_is_closed_in_bavaria_but_not_in_berlin() -> None:
    assert HolidayCalendar.model_validate(BAVARIA).closed_on(date(2027, 1, 6))
    assert not HolidayCalendar.model_validate(BERLIN_STATE).closed_on(date(2027, 1, 6))
    assert not HolidayCalendar.model_validate({"country": "DE"}).closed_on(date(2027, 1, 6))


def test_explicit_dates_add_to_the_public_holidays() -> None:
    calendar = HolidayCalendar.model_validate({**BAVARIA, "dates": ["2026-12-24", "2026-12-31"]})
    assert calendar.closed_on(date(2026, 12, 24)) and calendar.closed_on(date(2026, 12, 31))
    assert calendar.closed_on(date(2026, 12, 25)) and not calendar.closed_on(date(2026, 12, 30))


def test_public_holidays_are_looked_up_once_per_year_when_first_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    years: list[Any] = []
    real = holiday_calendar.holidays.country_holidays

    def counting(country: str, **options: Any) -> Any:
        years.append(options["years"])
        return real(country, **options)

    monkeypatch.setattr(holiday_calendar.holidays, "country_holidays", counting)
    holiday_calendar._public_holidays.cache_clear()
    new_zealand = HolidayCalendar.model_validate({"country": "NZ", "subdivision": "AUK"})   # asked nowhere else
    assert years == []                                                   # nothing is looked up at config load
    january_2041 = [new_zealand.closed_on(date(2041, 1, day)) for day in range(1, 32)]
    assert january_2041[0] and years == [2041]
    assert new_zealand.closed_on(date(2042, 1, 1)) and years == [2041, 2042]
    assert HolidayCalendar.model_validate({"country": "NZ", "subdivision": "AUK"}).closed_on(date(2041, 12, 25))
    assert years == [2041, 2042]                                         # kept, for every calendar of that place


# --- SLA due times --------------------------------------------------------------------------------------

def test_sla_of_24_business_hours_from_december_23_skips_christmas_but_not_christmas_eve() -> None:
    created = local(2026, 12, 23, 16)   # Wed: 1 h, Thu Dec 24 8 h, Fri 25 closed, weekend, Mon 28 8 h, Tue 29 7 h
    due = add_business_hours(created, 24, sla_calendar(BAVARIA))
    assert due == local(2026, 12, 29, 16) and due.astimezone(UTC) == utc(2026, 12, 29, 15)


def test_sla_across_the_year_boundary_skips_new_year_and_epiphany_in_bavaria_only() -> None:
    created = local(2026, 12, 23, 16)   # 1+8 (Dec 23, 24) + 8·4 (Dec 28-31) + 8·2 (Jan 4, 5) = 57 h; 7 h on Jan 7 in BY
    assert add_business_hours(created, 64, sla_calendar(BAVARIA)) == local(2027, 1, 7, 16)
    assert add_business_hours(created, 64, sla_calendar(BERLIN_STATE)) == local(2027, 1, 6, 16)
    assert add_business_hours(created, 64, sla_calendar([])) == local(2027, 1, 4, 16)   # Dec 25, Jan 1 open too
    assert business_hours_between(created, local(2027, 1, 7, 16), sla_calendar(BAVARIA)) == 64


def test_sla_with_christmas_eve_as_an_explicit_date_besides_the_public_holidays() -> None:
    calendar = sla_calendar({**BAVARIA, "dates": [date(2026, 12, 24)]})
    assert add_business_hours(local(2026, 12, 23, 16), 24, calendar) == local(2026, 12, 30, 16)


def test_follow_up_task_from_the_assignment_config_is_due_after_the_holidays() -> None:
    settings = AssignmentSettings.model_validate({
        "reps": [{"owner_id": "7"}], "rules": [{"name": "all", "reps": ["7"]}],
        "sla": {"hours": 24, "calendar": {"timezone": "Europe/Berlin", "holidays": BAVARIA}},
    })
    task = follow_up_task(ContactFacts("c1", {"email": "ada@example.com"}), "7", "all", "mql", settings,
                          local(2026, 12, 31, 16), None, key="k")
    # Thu Dec 31 1 h; Jan 1 closed, weekend; Mon 4 and Tue 5 8 h each; Wed 6 closed in Bavaria; Thu 7 7 h
    assert task.due_at == local(2027, 1, 7, 16)


def test_sla_across_the_spring_clock_change_and_easter_counts_local_wall_time() -> None:
    thursday = local(2027, 3, 25, 16)   # CET; Good Friday, the clock change (Sun 28) and Easter Monday follow
    due = add_business_hours(thursday, 10, sla_calendar(BAVARIA))   # 1 h Thu, 8 h Tue Mar 30, 1 h Wed
    assert due == local(2027, 3, 31, 10)
    assert due.astimezone(UTC) == utc(2027, 3, 31, 8) and due.utcoffset() == timedelta(hours=2)
    assert thursday.astimezone(UTC) == utc(2027, 3, 25, 15)


def test_sla_across_the_autumn_clock_change_and_all_saints_counts_local_wall_time() -> None:
    friday = local(2027, 10, 29, 16)    # CEST; clocks go back Sun Oct 31; Mon Nov 1 All Saints in Bavaria
    due = add_business_hours(friday, 2, sla_calendar(BAVARIA))
    assert due == local(2027, 11, 2, 10) and due.astimezone(UTC) == utc(2027, 11, 2, 9)
    assert add_business_hours(friday, 2, sla_calendar(BERLIN_STATE)).astimezone(UTC) == utc(2027, 11, 1, 9)
    assert business_hours_between(friday, due, sla_calendar(BAVARIA)) == 2


# --- sequence sending windows and business days ----------------------------------------------------------

def test_step_due_on_new_years_eve_evening_waits_for_monday_january_4() -> None:
    new_years_eve = local(2026, 12, 31, 19)
    assert into_window(new_years_eve, window(BAVARIA), BERLIN) == utc(2027, 1, 4, 8)   # 09:00 CET


def test_step_due_on_january_5_evening_waits_past_epiphany_in_bavaria_but_not_in_berlin() -> None:
    tuesday_evening = local(2027, 1, 5, 18)
    assert into_window(tuesday_evening, window(BAVARIA), BERLIN) == utc(2027, 1, 7, 8)
    assert into_window(tuesday_evening, window(BERLIN_STATE), BERLIN) == utc(2027, 1, 6, 8)


def test_compiled_sequence_holds_the_step_over_new_year_with_a_controlled_clock() -> None:
    steps = [EmailStep(subject="Hi", body="Hello", delay=Delay(hours=4))]
    settings = SequenceSettings(name="seq", enroll_on="form.submitted", steps=steps, window=window(BAVARIA))
    sequencer = compile_sequences([settings])
    enrollment = Enrollment("seq", "c1", local(2026, 12, 31, 15))   # + 4 h = 19:00, the window is closed
    contact = ContactFacts("c1", {"timezone": "Europe/Berlin"})
    assert sequencer.due_at(enrollment, contact) == utc(2027, 1, 4, 8)
    owner = {"name": "Dana"}
    assert sequencer.due_step(enrollment, contact, utc(2027, 1, 1, 10), owner=owner) is None     # New Year
    assert sequencer.due_step(enrollment, contact, utc(2027, 1, 4, 7, 59), owner=owner) is None
    assert sequencer.due_step(enrollment, contact, utc(2027, 1, 4, 8), owner=owner) is not None


def test_window_across_the_spring_clock_change_opens_nine_local_after_easter() -> None:
    saturday = utc(2027, 3, 27, 23)     # Good Friday is behind; Sunday 28 clocks jump; Easter Monday closed
    assert into_window(saturday, window(BAVARIA), BERLIN) == utc(2027, 3, 30, 7)   # Tue 09:00 CEST


def test_window_across_the_autumn_clock_change_opens_nine_local_after_all_saints() -> None:
    saturday = utc(2027, 10, 30, 12)
    assert into_window(saturday, window(BAVARIA), BERLIN) == utc(2027, 11, 2, 8)        # Tue 09:00 CET
    assert into_window(saturday, window(BERLIN_STATE), BERLIN) == utc(2027, 11, 1, 8)   # Mon 09:00 CET


def test_business_days_skip_public_holidays_across_the_year_boundary() -> None:
    wednesday = local(2026, 12, 30, 11)    # Dec 31 is day 1; Jan 1 closed, weekend; Jan 4 is day 2
    assert after_delay(wednesday, Delay(business_days=2), window(BAVARIA), BERLIN) == utc(2027, 1, 4, 10)
    assert after_delay(wednesday, Delay(business_days=2), window([]), BERLIN) == utc(2027, 1, 1, 10)  # no calendar
    tuesday = local(2027, 1, 5, 11)
    assert after_delay(tuesday, Delay(business_days=1), window(BAVARIA), BERLIN) == utc(2027, 1, 7, 10)
    assert after_delay(tuesday, Delay(business_days=1), window(BERLIN_STATE), BERLIN) == utc(2027, 1, 6, 10)


def test_business_days_over_easter_and_the_clock_change_keep_the_local_time_of_day() -> None:
    thursday = local(2027, 3, 25, 11)      # 10:00 UTC (CET); next open day is Tue Mar 30, CEST
    assert after_delay(thursday, Delay(business_days=1), window(BAVARIA), BERLIN) == utc(2027, 3, 30, 9)


# --- configuration ---------------------------------------------------------------------------------------

def config(window_holidays: Any, sla_holidays: Any = None) -> dict[str, Any]:
    return {
        "crm": {"kind": "hubspot", "token": "pat-test"},
        "server": {"public_url": "https://threadline.example", "unsubscribe_secret": "s3cret-s3cret"},
        "rules": {
            "assignment": {"reps": [{"owner_id": "7"}], "rules": [{"name": "all", "reps": ["7"]}],
                           "sla": {"calendar": {"timezone": "Europe/Berlin", "holidays": sla_holidays or []}}},
            "sequences": [{"name": "welcome", "enroll_on": "form.submitted", "window": {"holidays": window_holidays},
                           "steps": [{"kind": "email", "subject": "Hi", "body": "Hello"}]}],
        },
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, Path("threadline.yaml"))
    return caught.value.problems


def test_unknown_country_is_a_config_error_naming_the_path_and_the_choices() -> None:
    [problem] = problems(config({"country": "XX"}))
    assert problem.startswith("rules.sequences[0].window.holidays.country: unknown country 'XX': must be one of ")
    assert "DE" in problem.split(": must be one of ")[1].split(", ")


def test_unknown_subdivision_is_a_config_error_listing_the_countrys_subdivisions() -> None:
    [problem] = problems(config([], {"country": "DE", "subdivision": "Bavaria"}))
    assert problem.startswith("rules.assignment.sla.calendar.holidays.subdivision: unknown subdivision 'Bavaria' "
                              "of DE: must be one of BB, BE, BW, BY, ")


def test_a_subdivision_without_a_country_is_a_config_error() -> None:
    [problem] = problems(config({"subdivision": "BY"}))
    assert problem.startswith("rules.sequences[0].window.holidays.subdivision: a country is required")


def test_explicit_date_lists_still_load_and_codes_are_read_case_insensitively() -> None:
    settings = parse_settings(config(["2026-12-24"], [date(2026, 12, 31)]), Path("threadline.yaml"))
    assert settings.rules.sequences[0].window.holidays == HolidayCalendar(dates=[date(2026, 12, 24)])
    assert settings.rules.assignment.sla.calendar.holidays.dates == [date(2026, 12, 31)]
    both = parse_settings(config({"country": "de", "subdivision": "by", "dates": ["2026-12-24"]}),
                          Path("threadline.yaml"))
    assert both.rules.sequences[0].window.holidays == HolidayCalendar(country="DE", subdivision="BY",
                                                                      dates=[date(2026, 12, 24)])


def test_a_calendar_with_a_misspelled_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        HolidayCalendar.model_validate({"country": "DE", "region": "BY"})


def test_bad_holiday_calendar_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "threadline.yaml"
    path.write_text("crm: {kind: hubspot, token: pat-test}\n"
                    "rules:\n  assignment:\n    sla:\n      calendar: {holidays: {country: XX}}\n")
    result = subprocess.run([sys.executable, "-m", "threadline", "status", "--config", str(path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "rules.assignment.sla.calendar.holidays.country: unknown country 'XX'" in result.stderr
