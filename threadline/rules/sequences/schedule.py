"""When a step is due: its delay, then the next moment inside the sending window, in the contact's zone.

Local times are built with zoneinfo from the local date and the window's wall-clock times, so a
09:00 window is 09:00 local on both sides of a daylight-saving change. Elapsed delays (hours,
days) are added in UTC; business days move on by local dates and keep the local time of day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from threadline.rules.sequences.config import Delay, SendingWindow

#: No valid window needs more than a few weeks of looking (holidays included); this bounds a bad config.
_MAX_DAYS = 400


def zone_from(name: Any) -> ZoneInfo | None:
    """The IANA zone named by ``name``, or None when it is not a known zone name."""
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def contact_zone(window: SendingWindow, fields: Mapping[str, Any], owner_zone: str | None) -> ZoneInfo:
    """The zone windows are read in: the contact's field, else the owner's zone, else the default."""
    from_field = zone_from(fields.get(window.timezone_field)) if window.timezone_field else None
    return from_field or zone_from(owner_zone) or ZoneInfo(window.default_timezone)


def is_open_day(window: SendingWindow, day: date) -> bool:
    """True when the local date ``day`` is an open weekday of the window and no holiday."""
    return day.weekday() in window.days and not window.holidays.closed_on(day)


def after_delay(start: datetime, delay: Delay, window: SendingWindow, zone: ZoneInfo) -> datetime:
    """``start`` plus the delay: elapsed hours and days, then ``business_days`` open local days later."""
    moment = start.astimezone(UTC) + timedelta(hours=delay.hours, days=delay.days)
    if not delay.business_days:
        return moment
    local = moment.astimezone(zone)
    day, remaining = local.date(), delay.business_days
    for _ in range(_MAX_DAYS):
        if remaining == 0:
            break
        day += timedelta(days=1)
        remaining -= is_open_day(window, day)
    return datetime.combine(day, local.time(), tzinfo=zone).astimezone(UTC)


def into_window(moment: datetime, window: SendingWindow, zone: ZoneInfo) -> datetime:
    """The first moment at or after ``moment`` inside the window (returned in UTC)."""
    day = moment.astimezone(zone).date()
    for offset in range(_MAX_DAYS):
        current = day + timedelta(days=offset)
        if not is_open_day(window, current):
            continue
        opens = datetime.combine(current, window.start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(current, window.end, tzinfo=zone).astimezone(UTC)
        if moment < closes:
            return max(moment.astimezone(UTC), opens)
    raise ValueError("sending window has no open day within 400 days")
