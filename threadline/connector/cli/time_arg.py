"""Moments and spans given the way an admin says them: `--at` (plan, explain), `--since` (backtest),
`--window`/`--follow` (report)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FORMS = ("an ISO date or time (2027-01-15, 2027-01-15T17:00, 2027-01-15T17:00+01:00; UTC when no offset), "
         "a distance (+3d, +12h, +2w, -1d) or a weekday (friday: the end of the coming Friday, UTC)")


class TimeArgError(ValueError):
    """TIME is none of the accepted forms; the message lists them."""


def parse_at(text: str, now: datetime) -> datetime:
    """The moment `text` names, relative to `now` where it is relative. Raises TimeArgError."""
    value = text.strip().lower()
    relative = _RELATIVE.match(value)
    if relative:
        sign, amount, unit = relative.groups()
        delta = timedelta(**{_UNITS[unit]: float(amount)})
        return now + delta if sign == "+" else now - delta
    if value in WEEKDAYS:
        ahead = (WEEKDAYS.index(value) - now.weekday()) % 7
        day = (now + timedelta(days=ahead)).date()
        return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeArgError(f"--at {text!r}: expected {FORMS}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*(h|d|w)$")
SINCE_FORMS = "a span back from the end (90d, 12w, 36h) or an ISO date or time (2027-01-15; UTC when no offset)"


def parse_span(text: str) -> timedelta | None:
    """A span such as "90d", "12w" or "36h"; None when ``text`` is not one (`--since`, `report --window`)."""
    span = _SPAN.match(text.strip().lower())
    if span is None:
        return None
    amount, unit = span.groups()
    return timedelta(**{_UNITS[unit]: float(amount)})


def parse_length(text: str, option: str) -> timedelta:
    """`report --window/--follow`: a span as `--since` takes it ("30d", "4w", "36h") or a bare number of days
    ("30"); at least an hour. Raises TimeArgError."""
    span = parse_span(text) or (timedelta(days=int(text)) if text.strip().isdigit() else None)
    if span is None or span < timedelta(hours=1):
        raise TimeArgError(f"{option} {text!r}: expected a span like 30d, 4w or 36h")
    return span


def parse_since(text: str, end: datetime) -> datetime:
    """`--since`: the start of a window ending at `end`; "90d" means 90 days before it. Raises TimeArgError."""
    span = parse_span(text)
    if span is not None:
        return end - span
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeArgError(f"--since {text!r}: expected {SINCE_FORMS}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
