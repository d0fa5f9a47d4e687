"""SLA calendars: due times skip nights, weekends and holidays, and stay right across DST changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from threadline.rules.business_hours import BusinessCalendar, add_business_hours, business_hours_between

BERLIN = ZoneInfo("Europe/Berlin")
berlin = BusinessCalendar(timezone="Europe/Berlin")


def at(y: int, m: int, d: int, hh: int, mm: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def test_24_business_hours_from_friday_afternoon_is_wednesday_afternoon() -> None:
    friday = at(2024, 6, 7, 16)  # 1 h Friday + 8 h Monday + 8 h Tuesday + 7 h Wednesday
    assert add_business_hours(friday, 24, berlin) == at(2024, 6, 12, 16)


def test_work_that_ends_at_closing_is_due_at_closing_not_next_morning() -> None:
    assert add_business_hours(at(2024, 6, 7, 16), 1, berlin) == at(2024, 6, 7, 17)


def test_start_outside_hours_counts_from_next_opening() -> None:
    saturday_night = at(2024, 6, 8, 23)
    assert add_business_hours(saturday_night, 2, berlin) == at(2024, 6, 10, 11)
    early_tuesday = at(2024, 6, 11, 6, 30)
    assert add_business_hours(early_tuesday, 0.5, berlin) == at(2024, 6, 11, 9, 30)


def test_result_is_in_the_calendar_zone_whatever_the_input_zone() -> None:
    friday_utc = datetime(2024, 6, 7, 14, tzinfo=UTC)  # 16:00 in Berlin (CEST)
    due = add_business_hours(friday_utc, 24, berlin)
    assert due == at(2024, 6, 12, 16)
    assert due.tzinfo == BERLIN


def test_due_time_across_spring_dst_change_and_easter_holidays() -> None:
    easter = BusinessCalendar(timezone="Europe/Berlin", holidays=[date(2024, 3, 29), date(2024, 4, 1)])
    thursday = at(2024, 3, 28, 16)  # CET (+01:00); clocks go forward on Sunday 31 March
    due = add_business_hours(thursday, 10, easter)  # 1 h Thu, Good Friday and Easter Monday closed, 8 h Tue, 1 h Wed
    assert due == at(2024, 4, 3, 10)
    assert due.utcoffset() == timedelta(hours=2)


def test_hours_between_across_autumn_dst_change_count_open_time_only() -> None:
    friday = at(2024, 10, 25, 16)   # CEST; clocks go back on Sunday 27 October
    monday = at(2024, 10, 28, 10)   # CET
    assert business_hours_between(friday, monday, berlin) == 2.0
    assert business_hours_between(monday, friday, berlin) == -2.0


def test_hours_between_inverts_add_business_hours() -> None:
    start = at(2024, 12, 20, 11, 15)
    holidays = BusinessCalendar(timezone="Europe/Berlin", holidays=[date(2024, 12, 24), date(2024, 12, 25), date(2024, 12, 26)])
    for hours in (0.25, 5.75, 8, 24, 37.5):
        assert business_hours_between(start, add_business_hours(start, hours, holidays), holidays) == pytest.approx(hours)


@settings(max_examples=200, deadline=None)
@given(start=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(BERLIN)),
       quarter_hours=st.integers(min_value=1, max_value=400))
def test_due_time_is_open_time_and_exactly_the_requested_hours_later(start: datetime, quarter_hours: int) -> None:
    hours = quarter_hours / 4
    due = add_business_hours(start, hours, berlin)
    local = due.astimezone(BERLIN)
    assert berlin.is_open_on(local.date()) and time(9) < local.time() <= time(17)
    assert business_hours_between(start, due, berlin) == pytest.approx(hours)


def test_custom_week_and_hours_in_another_zone() -> None:
    sun_to_thu = BusinessCalendar(timezone="Asia/Dubai", days=[6, 0, 1, 2, 3], start=time(8), end=time(16))
    thursday = datetime(2024, 6, 13, 15, tzinfo=ZoneInfo("Asia/Dubai"))
    assert add_business_hours(thursday, 2, sun_to_thu) == datetime(2024, 6, 16, 9, tzinfo=ZoneInfo("Asia/Dubai"))


def test_zero_hours_is_the_start_itself() -> None:
    saturday = at(2024, 6, 8, 12)
    assert add_business_hours(saturday, 0, berlin) == saturday


def test_naive_datetimes_and_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        add_business_hours(datetime(2024, 6, 7, 16), 1, berlin)
    with pytest.raises(ValueError):
        add_business_hours(at(2024, 6, 7, 16), -1, berlin)


@pytest.mark.parametrize("bad", [
    {"timezone": "Mars/Olympus"},
    {"days": []},
    {"days": [7]},
    {"start": "17:00", "end": "09:00"},
    {"weekends": True},
])
def test_invalid_calendars_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        BusinessCalendar(**bad)
