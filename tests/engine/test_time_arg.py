"""`--at TIME`: the forms an admin uses, and a clear refusal of anything else."""

from datetime import UTC, datetime, timedelta

import pytest

from threadline.connector.cli.time_arg import TimeArgError, parse_at, parse_length, parse_since

NOW = datetime(2027, 1, 6, 15, 30, tzinfo=UTC)      # a Wednesday


@pytest.mark.parametrize(("text", "expected"), [
    ("+3d", datetime(2027, 1, 9, 15, 30, tzinfo=UTC)),
    ("+12h", datetime(2027, 1, 7, 3, 30, tzinfo=UTC)),
    ("+2w", datetime(2027, 1, 20, 15, 30, tzinfo=UTC)),
    ("-1d", datetime(2027, 1, 5, 15, 30, tzinfo=UTC)),
    ("friday", datetime(2027, 1, 8, 23, 59, 59, tzinfo=UTC)),
    ("Wednesday", datetime(2027, 1, 6, 23, 59, 59, tzinfo=UTC)),     # today: its end
    ("tuesday", datetime(2027, 1, 12, 23, 59, 59, tzinfo=UTC)),
    ("2027-02-01", datetime(2027, 2, 1, tzinfo=UTC)),
    ("2027-02-01T17:00", datetime(2027, 2, 1, 17, tzinfo=UTC)),
    ("2027-02-01T17:00+01:00", datetime(2027, 2, 1, 16, tzinfo=UTC)),
])
def test_each_form_names_one_moment(text: str, expected: datetime) -> None:
    assert parse_at(text, NOW) == expected


@pytest.mark.parametrize("text", ["next tuesday", "soon", "+3 days", "2027-13-01"])
def test_anything_else_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(TimeArgError, match="expected an ISO date or time"):
        parse_at(text, NOW)


@pytest.mark.parametrize(("text", "expected"), [
    ("30d", timedelta(days=30)), ("30", timedelta(days=30)), ("4w", timedelta(weeks=4)), ("36h", timedelta(hours=36)),
])
def test_report_lengths_take_the_spans_since_takes_and_a_bare_number_of_days(text: str, expected: timedelta) -> None:
    assert parse_length(text, "--window") == expected
    if not text.isdigit():                          # --since takes a span, not a bare number
        assert parse_since(text, NOW) == NOW - expected


@pytest.mark.parametrize("text", ["soon", "0d", "30m", "-3d", ""])
def test_a_report_length_that_is_no_span_of_at_least_an_hour_is_refused(text: str) -> None:
    with pytest.raises(TimeArgError, match="--follow .*expected a span like 30d, 4w or 36h"):
        parse_length(text, "--follow")
