"""Reporting: numbers on a small hand-made data set, and a self-contained HTML report."""

from datetime import UTC, date, datetime, timedelta

from threadline.rules.sequences import Enrollment
from threadline.rules.sequences.reporting.html import render_report_html
from threadline.rules.sequences.reporting.stats import (
    SendRecord,
    replies_per_day,
    sequence_stats,
)
from threadline.sync.events.records import Event, event_id

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def event(type_, contact_id, at):
    return Event(id=event_id(type_, contact_id, at.isoformat()), type=type_, contact_id=contact_id, occurred_at=at,
                 source="test")


ENROLLMENTS = [
    Enrollment("welcome", "c1", T0, status="exited", exit_reason="replied", step=2),
    Enrollment("welcome", "c2", T0, status="exited", exit_reason="bounced", step=1),
    Enrollment("welcome", "c3", T0, status="completed", step=2),
    Enrollment("post-demo", "c4", T0, status="exited", exit_reason="meeting", step=1),
]
SENDS = [
    SendRecord("welcome", "c1", 0, T0), SendRecord("welcome", "c1", 1, T0 + 2 * DAY),
    SendRecord("welcome", "c2", 0, T0),
    SendRecord("welcome", "c3", 0, T0), SendRecord("welcome", "c3", 1, T0 + 2 * DAY),
    SendRecord("post-demo", "c4", 0, T0),
]
EVENTS = {
    "c1": [event("reply.received", "c1", T0 + 2 * DAY + 3 * HOUR),
           event("reply.received", "c1", T0 + 3 * DAY)],                    # a second reply counts once
    "c2": [event("bounce.received", "c2", T0 + timedelta(minutes=1))],
    "c3": [event("reply.received", "c3", T0 - DAY)],                        # before enrolment: not counted
    "c4": [event("reply.received", "c4", T0 + 3 * HOUR), event("meeting.booked", "c4", T0 + DAY)],
}


def test_numbers_per_sequence_and_step():
    demo, welcome = sequence_stats(ENROLLMENTS, SENDS, EVENTS)
    assert (welcome.name, welcome.enrolled, welcome.sent, welcome.replied, welcome.bounced) == ("welcome", 3, 5, 1, 1)
    assert (welcome.completed, welcome.exited, welcome.meetings) == (1, {"replied": 1, "bounced": 1}, 0)
    assert welcome.reply_rate == 1 / 3
    assert welcome.median_time_to_first_reply == 2 * DAY + 3 * HOUR
    step0, step1 = welcome.steps
    assert (step0.sent, step0.replied, step0.bounced) == (3, 0, 1)
    assert (step1.sent, step1.replied, step1.bounced) == (2, 1, 0)
    assert (demo.enrolled, demo.sent, demo.replied, demo.meetings, demo.reply_rate) == (1, 1, 1, 1, 1.0)
    assert demo.exited == {"meeting": 1}
    assert demo.median_time_to_first_reply == 3 * HOUR


def test_a_re_enrolment_gets_its_own_outcomes():
    again = Enrollment("post-demo", "c4", T0 + 10 * DAY, status="active", step=1, generation=2)
    sends = [*SENDS, SendRecord("post-demo", "c4", 0, T0 + 10 * DAY)]
    demo = sequence_stats([*ENROLLMENTS, again], sends, EVENTS)[0]
    assert (demo.enrolled, demo.sent, demo.replied, demo.active) == (2, 2, 1, 1)
    assert demo.reply_rate == 0.5


def test_replies_per_day_counts_enrolled_contacts_replies():
    assert replies_per_day(ENROLLMENTS, EVENTS) == {date(2024, 5, 6): 1, date(2024, 5, 8): 1, date(2024, 5, 9): 1}


def test_html_report_is_self_contained_with_names_and_svg_charts():
    html = render_report_html(sequence_stats(ENROLLMENTS, SENDS, EVENTS), replies_per_day(ENROLLMENTS, EVENTS))
    assert "welcome" in html and "post-demo" in html
    assert html.count("<svg") == 3                                          # two funnels, one replies chart
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "src=" not in html and "<link" not in html


def test_html_escapes_names():
    stats = sequence_stats([Enrollment("<b>x</b>", "c9", T0)], [], {})
    assert "&lt;b&gt;x&lt;/b&gt;" in render_report_html(stats, {})
