"""Meeting responses as Google Calendar, Outlook/Exchange and Apple Calendar send them are read as meetings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sync.mail.imip_samples import apple_reply, google_invitation, google_reply, outlook_reply
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring import ScoringRule, ScoringSettings, compile_scoring
from threadline.sync.mail.calendar_reply import CalendarResponse, parse_calendar, read_calendar
from threadline.sync.mail.classify import classify
from threadline.sync.mail.matching import AddressPolicy, Decision, decide
from threadline.sync.mail.message import parse_message
from threadline.sync.mailboxes.meetings import meeting_decision, meeting_events

REP, JANE = "rita@northwind.example", "jane@acme.example"
NOW = datetime(2027, 1, 5, 17, 30, tzinfo=UTC)
START = datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
POLICY = AddressPolicy(internal_domains=frozenset({"northwind.example"}))
CONTACTS = {JANE: ["c-jane"], "jane.doe@acme.example": ["c-jane"], "sam@acme.example": ["c-sam"]}


def response_of(raw: bytes) -> CalendarResponse:
    found = read_calendar(raw)
    assert found.problem is None and found.response is not None, found
    return found.response


def google(partstat: str = "ACCEPTED", **kw: object) -> bytes:
    return google_reply(attendee=JANE, name="Jane Doe", organizer=REP, organizer_name="Rita Rep",
                        partstat=partstat, start=START, now=NOW, **kw)  # type: ignore[arg-type]


def test_google_accepted_reply_is_a_booked_meeting_although_google_marks_it_auto_submitted() -> None:
    raw = google()
    response = response_of(raw)
    assert (response.method, response.partstat, response.event_type) == ("REPLY", "ACCEPTED", "meeting.booked")
    assert response.attendees == ((JANE, "ACCEPTED"),)
    assert (response.uid, response.organizer, response.starts_at) == (
        "5t0bqk9v1m3l8h2c4o7n6e0a1s@google.com", REP, START)
    assert response.product.startswith("-//Google Inc//Google Calendar")
    parsed = parse_message(raw)
    assert parsed.headers["auto-submitted"] == "auto-generated"
    assert classify(parsed).kind == "auto_reply"                    # what it was without its calendar
    classification = classify(parsed, read_calendar(raw))
    assert classification.kind == "meeting" and classification.calendar == response
    assert classification.reason == f"calendar reply: accepted by {JANE} (meeting.booked)"


def test_google_declined_and_tentative_replies_get_their_own_event_types() -> None:
    assert response_of(google("DECLINED")).event_type == "meeting.declined"
    assert response_of(google("TENTATIVE")).event_type == "meeting.tentative"
    assert parse_message(google("TENTATIVE")).subject.startswith("Tentatively accepted: Northwind demo @")


def test_outlook_reply_in_base64_with_a_windows_time_zone_and_a_comment() -> None:
    raw = outlook_reply(attendee=JANE, name="Jane Doe", organizer=REP, organizer_name="Rita Rep", now=NOW,
                        start_local="20270112T100000", comment="Looking forward to it")
    response = response_of(raw)
    assert (response.event_type, response.attendees) == ("meeting.booked", ((JANE, "ACCEPTED"),))
    assert response.starts_at == START                      # 10:00 Pacific Standard Time (VTIMEZONE) = 18:00 UTC
    assert response.uid.startswith("040000008200E00074C5B7101A82E008")
    assert response.organizer is None                       # Exchange leaves ORGANIZER out of a reply
    assert response.comment == "Looking forward to it"
    assert response.product == "Microsoft Exchange Server 2010"
    parsed = parse_message(raw)
    assert classify(parsed).kind == "message"               # without its calendar it was logged as mail
    assert classify(parsed, read_calendar(raw)).kind == "meeting"
    declined = outlook_reply(attendee=JANE, name="Jane Doe", organizer=REP, organizer_name="Rita Rep",
                             partstat="DECLINED", now=NOW)
    assert (parse_message(declined).subject, response_of(declined).event_type) == (
        "Declined: Northwind demo", "meeting.declined")


def test_apple_reply_in_quoted_printable_with_an_olson_time_zone() -> None:
    raw = apple_reply(attendee=JANE, name="Jane Doe", organizer=REP, start_local="20270114T110000", now=NOW)
    response = response_of(raw)
    assert (response.event_type, response.organizer) == ("meeting.tentative", REP)
    assert response.starts_at == datetime(2027, 1, 14, 10, 0, tzinfo=UTC)     # 11:00 CET
    assert response.product == "-//Apple Inc.//iPhone OS 17.2//EN"


def test_an_invitation_the_prospect_sends_is_a_booked_meeting_with_the_organizer() -> None:
    raw = google_invitation(organizer=JANE, organizer_name="Jane Doe", guest=REP, guest_name="Rita Rep", now=NOW)
    response = response_of(raw)
    assert (response.method, response.partstat, response.event_type) == ("REQUEST", None, "meeting.booked")
    assert (response.organizer, response.attendees) == (JANE, ())
    assert parse_message(raw).subject.startswith("Invitation: Pilot scoping @")


def test_a_cancellation_from_the_organizer_is_meeting_cancelled() -> None:
    ics = google_calendar_text("CANCEL", "CANCELLED")
    assert parse_calendar(ics) == parse_calendar(ics)       # pure
    response = parse_calendar(ics)
    assert isinstance(response, CalendarResponse) and response.event_type == "meeting.cancelled"


def google_calendar_text(method: str, partstat: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\n"
            f"METHOD:{method}\r\nBEGIN:VEVENT\r\nDTSTART:20270112T180000Z\r\nDTEND:20270112T183000Z\r\n"
            f"ORGANIZER;CN=Jane Doe:mailto:{JANE}\r\nUID:series-1@google.com\r\n{extra}"
            f"ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT={partstat};CN=Jane Doe:mailto:{JANE}\r\n"
            "SUMMARY:Weekly sync\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_reply_to_one_occurrence_names_it_and_gets_its_own_event_id() -> None:
    one = parse_calendar(google_calendar_text("REPLY", "ACCEPTED", "RECURRENCE-ID:20270119T180000Z\r\n"))
    series = parse_calendar(google_calendar_text("REPLY", "ACCEPTED"))
    assert isinstance(one, CalendarResponse) and isinstance(series, CalendarResponse)
    assert (one.recurrence_id, series.recurrence_id) == ("20270119T180000Z", None)
    ids = {meeting_events(r, ["c-jane"], NOW, "mailbox:x", {})[0].id for r in (one, series)}
    assert len(ids) == 2


def test_a_reply_without_a_response_is_not_a_meeting() -> None:
    assert parse_calendar(google_calendar_text("REPLY", "NEEDS-ACTION")) == (
        "METHOD:REPLY without an accepted, tentative or declined attendee (NEEDS-ACTION)")
    assert "COUNTER" in str(parse_calendar(google_calendar_text("COUNTER", "TENTATIVE")))


def test_a_malformed_calendar_falls_back_to_mail_with_the_reason() -> None:
    broken = "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:jane@acme.example\r\n"
    raw = google(calendar=broken)
    found = read_calendar(raw)
    assert found.response is None and found.problem is not None and found.problem.startswith("unreadable calendar")
    assert classify(parse_message(raw), found).kind == "auto_reply"      # handled as before: never logged
    no_uid = google(calendar=google_calendar_text("REPLY", "ACCEPTED").replace("UID:series-1@google.com\r\n", ""))
    assert read_calendar(no_uid).problem == "METHOD:REPLY VEVENT without a UID"


def test_a_published_ics_without_method_is_not_imip() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = JANE, REP, "Our webinar"
    msg.set_content("The date is attached.")
    published = google_calendar_text("REPLY", "ACCEPTED").replace("METHOD:REPLY\r\n", "")
    msg.add_attachment(published.encode(), maintype="application", subtype="octet-stream", filename="webinar.ics")
    found = read_calendar(msg.as_bytes())
    assert found.response is None and found.problem is not None and "without METHOD" in found.problem


def test_a_forwarded_or_bounced_invitation_is_not_the_senders_response() -> None:
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Subject"] = "sam@acme.example", REP, "Fwd: Accepted: Northwind demo"
    forward.set_content("FYI, Jane accepted.")
    forward.add_attachment(google(), maintype="message", subtype="rfc822")
    assert read_calendar(forward.as_bytes()).response is None
    bounce = google().replace(b"Auto-Submitted: auto-generated", b"X-Failed-Recipients: jane@acme.example")
    assert classify(parse_message(bounce), read_calendar(bounce)).kind == "bounce"     # bounce wins


def test_mail_without_calendar_is_not_parsed_twice() -> None:
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = JANE, REP, "Re: pricing"
    plain.set_content("Sounds good, the invite.ics is in text/calendar format.")
    found = read_calendar(plain.as_bytes(), parse_message(plain.as_bytes()).headers["content-type"])
    assert (found.response, found.problem) == (None, None)             # calendar words in a text body
    raw = google()
    assert read_calendar(raw, parse_message(raw).headers["content-type"]).response == response_of(raw)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([b"text/calendar", b"application/ics"]))
def test_read_calendar_never_raises(junk: bytes, ctype: bytes) -> None:
    raw = b"From: x@y.example\r\nContent-Type: " + ctype + b"; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\n" + junk
    found = read_calendar(raw)
    assert found.response is None or found.response.uid


def decision_for(raw: bytes, folder: str = "inbox", thread: list[str] | None = None) -> Decision:
    parsed = parse_message(raw)
    classification = classify(parsed, read_calendar(raw))
    decision = decide(parsed, classification, folder, REP, POLICY, lambda a: CONTACTS.get(a, []), lambda: thread or [])
    assert classification.calendar is not None
    return meeting_decision(classification.calendar, decision, POLICY, lambda a: CONTACTS.get(a, []))


def test_a_response_from_a_contact_names_the_contact_and_is_never_logged() -> None:
    decision = decision_for(google())
    assert (decision.action, decision.contact_ids, decision.reason) == (
        "skip", ("c-jane",), f"calendar reply: accepted by {JANE} (meeting.booked)")


def test_a_sender_alias_falls_back_to_the_senders_contact() -> None:
    raw = google().replace(b"mailto:jane@acme.example", b"mailto:j.doe@acme-corp.example")
    raw = raw.replace(b"From: Jane Doe <jane@acme.example>", b"From: Jane Doe <jane.doe@acme.example>")
    decision = decision_for(raw)
    assert decision.contact_ids == ("c-jane",)


def test_a_colleague_matched_only_by_thread_is_no_meeting_for_the_contact() -> None:
    raw = outlook_reply(attendee="lee@acme.example", name="Lee", organizer=REP, organizer_name="Rita Rep", now=NOW)
    decision = decision_for(raw, thread=["c-jane"])
    assert decision.action == "skip" and decision.contact_ids == ()
    assert "no responder is a known contact (the message was matched by thread)" in decision.reason


def test_a_stranger_or_an_outgoing_response_keeps_its_skip() -> None:
    stranger = outlook_reply(attendee="nobody@else.example", name="N", organizer=REP, organizer_name="R", now=NOW)
    assert decision_for(stranger).reason == "no known contact among the outside parties"
    mine = outlook_reply(attendee=REP, name="Rita Rep", organizer=JANE, organizer_name="Jane Doe", now=NOW)
    outgoing_policy = AddressPolicy(internal_domains=POLICY.internal_domains, log_outgoing=True)
    parsed = parse_message(mine)
    classification = classify(parsed, read_calendar(mine))
    decided = decide(parsed, classification, "sent", REP, outgoing_policy, lambda a: CONTACTS.get(a, []), list)
    assert decided.action == "log"                          # as mail, the rep's own "Accepted:" would be logged
    assert classification.calendar is not None
    decision = meeting_decision(classification.calendar, decided, outgoing_policy, lambda a: CONTACTS.get(a, []))
    assert decision.action == "skip" and decision.contact_ids == () and "sent from this mailbox" in decision.reason


def test_event_ids_come_from_the_meeting_and_the_contact_not_the_message() -> None:
    first = meeting_events(response_of(google()), ["c-jane"], NOW, "mailbox:a", {"message_id": "<1@x>"})
    again = meeting_events(response_of(google(message_id="<other@google.com>")), ["c-jane"], NOW, "mailbox:b", {})
    declined = meeting_events(response_of(google("DECLINED")), ["c-jane"], NOW, "mailbox:a", {})
    assert first[0].id == again[0].id != declined[0].id
    event = first[0]
    assert (event.type, event.contact_id, event.data["uid"], event.data["response"]) == (
        "meeting.booked", "c-jane", "5t0bqk9v1m3l8h2c4o7n6e0a1s@google.com", "accepted")
    assert event.data["starts_at"] == START.isoformat()


def test_meeting_events_score_with_the_builtin_types() -> None:
    """The new types are built in: scoring rules on them compile without custom_events, and a booked meeting from
    mail scores like one from the CRM while a decline takes points off."""
    scorer = compile_scoring(ScoringSettings(rules=[
        ScoringRule(name="meeting", event="meeting.booked", points=30, cap=60),
        ScoringRule(name="maybe", event="meeting.tentative", points=10, cap=10),
        ScoringRule(name="no", event="meeting.declined", points=-15, cap=15),
    ]), None)
    booked = meeting_events(response_of(google()), ["c-jane"], NOW, "mailbox:a", {})
    declined = meeting_events(response_of(google("DECLINED", uid="other@google.com")), ["c-jane"], NOW, "mailbox:a", {})
    jane = ContactFacts("c-jane", {"email": JANE})
    assert scorer.score(jane, booked, NOW + timedelta(hours=1)).total == 30
    assert scorer.score(jane, [*booked, *declined], NOW + timedelta(hours=1)).total == 15
