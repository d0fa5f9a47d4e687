"""Meeting responses and invitations as Google Calendar, Outlook/Exchange and Apple Calendar send them (iMIP).

Modelled on real messages (headers, MIME layout, transfer encodings, iCalendar properties and folding):

- Google Calendar: multipart/mixed of a multipart/alternative (text/plain in base64, text/html, the calendar
  inline as `text/calendar; method=...` in 7bit) and the same calendar attached as `application/ics`
  `invite.ics` in base64; `Sender: Google Calendar`, `Auto-Submitted: auto-generated`, a Reply-To of the person,
  subjects "Accepted: <title> @ <when> (<organizer>)", "Declined: ...", "Tentatively accepted: ...",
  "Invitation: ...".
- Outlook / Exchange Online: multipart/alternative of text/plain and text/html (the person's comment, if any)
  and `text/calendar; charset="utf-8"; method=REPLY` in base64 with a Windows time zone (VTIMEZONE
  "Pacific Standard Time"), the 040000008200E00074C5B7101A82E008 UID, X-MICROSOFT-CDO-* properties, a COMMENT;
  Thread-Topic/Thread-Index headers; subjects "Accepted: <title>", "Declined: ...", "Tentative: ...".
- Apple Calendar (iOS/macOS): multipart/alternative of an empty text/plain and
  `text/calendar; charset=utf-8; name=meeting.ics; method=REPLY` in quoted-printable, TZID=Europe/Berlin.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

GOOGLE_SUBJECT = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentatively accepted"}
GOOGLE_WORDS = {"ACCEPTED": "has accepted", "DECLINED": "has declined", "TENTATIVE": "has tentatively accepted"}
OUTLOOK_SUBJECT = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}
APPLE_SUBJECT = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Maybe"}


def _digest(*parts: str) -> str:
    """A stable token for Message-IDs (hash() differs between processes)."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """RFC 5545 folding: lines of at most 75 octets, continued with CRLF and one space."""
    out, rest = [], line
    while len(rest.encode()) > 75:
        out.append(rest[:75])
        rest = " " + rest[75:]
    out.append(rest)
    return "\r\n".join(out)


def _ics(lines: list[str]) -> str:
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def _b64(text: str) -> str:
    return base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def google_calendar(method: str, *, uid: str, summary: str, start: datetime, organizer: str, organizer_name: str,
                    attendees: list[tuple[str, str, str]], now: datetime) -> str:
    """A Google Calendar iCalendar object: attendees are (address, name, PARTSTAT)."""
    people = [f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={state};"
              f"{'RSVP=TRUE;' if method == 'REQUEST' and state == 'NEEDS-ACTION' else ''}CN={name};X-NUM-GUESTS=0:"
              f"mailto:{address}" for address, name, state in attendees]
    return _ics([
        "BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0", "CALSCALE:GREGORIAN",
        f"METHOD:{method}", "BEGIN:VEVENT", f"DTSTART:{_stamp(start)}", f"DTEND:{_stamp(start + timedelta(minutes=30))}",
        f"DTSTAMP:{_stamp(now)}", f"ORGANIZER;CN={organizer_name}:mailto:{organizer}", f"UID:{uid}", *people,
        "X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij", f"CREATED:{_stamp(now - timedelta(days=1))}",
        "DESCRIPTION:-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:"
        "~::~:~::-\\nJoin with Google Meet: https://meet.google.com/abc-defg-hij\\n\\nLearn more about Meet at: "
        "https://support.google.com/a/users/answer/9282720",
        f"LAST-MODIFIED:{_stamp(now)}", "LOCATION:", "SEQUENCE:0", "STATUS:CONFIRMED", f"SUMMARY:{summary}",
        "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"])


def google_reply(*, attendee: str, name: str, organizer: str, organizer_name: str, partstat: str = "ACCEPTED",
                 uid: str = "5t0bqk9v1m3l8h2c4o7n6e0a1s@google.com", summary: str = "Northwind demo",
                 start: datetime | None = None, now: datetime | None = None, message_id: str | None = None,
                 calendar: str | None = None, lead: str | None = None) -> bytes:
    """Google Calendar's response mail ("Accepted: ..."), sent as the attendee (`calendar` overrides the ics,
    `lead` the first line of the text)."""
    now = now or datetime.now(UTC)
    start = start or (now + timedelta(days=5)).replace(hour=18, minute=0, second=0, microsecond=0)
    ics = calendar if calendar is not None else google_calendar(
        "REPLY", uid=uid, summary=summary, start=start, organizer=organizer, organizer_name=organizer_name,
        attendees=[(attendee, name, partstat)], now=now)
    when = start.strftime("%a %b %-d, %Y %-I%p").replace("AM", "am").replace("PM", "pm") + " - " + \
        (start + timedelta(minutes=30)).strftime("%-I:%M%p").lower() + " (UTC)"
    lead = lead or f"{name} {GOOGLE_WORDS[partstat]} this invitation."
    plain = (f"{lead}\n\n{summary}\n{when}\n\nOrganizer\n{organizer_name}\n"
             f"{organizer}\n\nGuests\n{organizer_name} - organizer\n{name}\n\nInvitation from Google Calendar: "
             "https://calendar.google.com/calendar/\n\nYou are receiving this email because you are an attendee on "
             "the event.\n\nForwarding this invitation could allow any recipient to send a response to the "
             "organizer, be added to the guest list, invite others regardless of their own invitation status, or "
             "modify your RSVP. Learn more https://support.google.com/calendar/answer/37135#forwarding\n")
    html = (f"<p>{lead}</p>"
            f"<h2>{summary}</h2><p>{when}</p><p>Invitation from Google Calendar</p>")
    boundary_mixed, boundary_alt = "000000000000c3d45a0623f1e2b7", "000000000000c3d4570623f1e2b5"
    return _crlf(f"""MIME-Version: 1.0
Reply-To: {name} <{attendee}>
Sender: Google Calendar <calendar-notification@google.com>
Auto-Submitted: auto-generated
Message-ID: {message_id or f"<calendar-{_digest(uid, attendee, partstat)}@google.com>"}
Date: {format_datetime(now)}
Subject: {GOOGLE_SUBJECT[partstat]}: {summary} @ {when} ({organizer})
From: {name} <{attendee}>
To: {organizer}
Content-Type: multipart/mixed; boundary="{boundary_mixed}"

--{boundary_mixed}
Content-Type: multipart/alternative; boundary="{boundary_alt}"

--{boundary_alt}
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes
Content-Transfer-Encoding: base64

{_b64(plain)}
--{boundary_alt}
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(html.encode()).decode()}
--{boundary_alt}
Content-Type: text/calendar; charset="UTF-8"; method=REPLY
Content-Transfer-Encoding: 7bit

{ics}
--{boundary_alt}--

--{boundary_mixed}
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{_b64(ics)}
--{boundary_mixed}--
""")


def google_invitation(*, organizer: str, organizer_name: str, guest: str, guest_name: str,
                      uid: str = "0a9s8d7f6g5h4j3k2l1q@google.com", summary: str = "Pilot scoping",
                      start: datetime | None = None, now: datetime | None = None) -> bytes:
    """The invitation Google Calendar sends when `organizer` (the prospect) invites `guest` (the rep)."""
    now = now or datetime.now(UTC)
    start = start or (now + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    ics = google_calendar("REQUEST", uid=uid, summary=summary, start=start, organizer=organizer,
                          organizer_name=organizer_name, now=now,
                          attendees=[(guest, guest, "NEEDS-ACTION"), (organizer, organizer_name, "ACCEPTED")])
    raw = google_reply(attendee=organizer, name=organizer_name, organizer=guest, organizer_name=guest_name,
                       summary=summary, start=start, now=now, calendar=ics,
                       lead=f"{organizer_name} has invited you to the following event. Join with Google Meet",
                       message_id=f"<invite-{_digest(uid)}@google.com>")
    return (raw.replace(b"method=REPLY", b"method=REQUEST")
               .replace(f"Accepted: {summary}".encode(), f"Invitation: {summary}".encode()))


OUTLOOK_TZ = [
    "BEGIN:VTIMEZONE", "TZID:Pacific Standard Time", "BEGIN:STANDARD", "DTSTART:16010101T020000",
    "TZOFFSETFROM:-0700", "TZOFFSETTO:-0800", "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:-0800", "TZOFFSETTO:-0700",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3", "END:DAYLIGHT", "END:VTIMEZONE"]


def outlook_reply(*, attendee: str, name: str, organizer: str, organizer_name: str, partstat: str = "ACCEPTED",
                  uid: str = "040000008200E00074C5B7101A82E00800000000B0F7C2E1A3E4DA01000000000000000010000000"
                             "6F1A4C22D8A9B04B8E0E3D6E5A1B2C3D",
                  summary: str = "Northwind demo", start_local: str = "20270112T100000", comment: str = "",
                  now: datetime | None = None, message_id: str | None = None) -> bytes:
    """Outlook / Exchange Online's response mail, the start given in Pacific time (`start_local`)."""
    now = now or datetime.now(UTC)
    end_local = start_local[:9] + f"{int(start_local[9:11]):02d}3000"
    ics = _ics([
        "BEGIN:VCALENDAR", "METHOD:REPLY", "PRODID:Microsoft Exchange Server 2010", "VERSION:2.0", *OUTLOOK_TZ,
        "BEGIN:VEVENT", f"ATTENDEE;PARTSTAT={partstat};CN={name}:mailto:{attendee}",
        f"COMMENT;LANGUAGE=en-US:{comment}\\n", f"SUMMARY;LANGUAGE=en-US:{OUTLOOK_SUBJECT[partstat]}: {summary}",
        f"DTSTART;TZID=Pacific Standard Time:{start_local}", f"DTEND;TZID=Pacific Standard Time:{end_local}",
        f"UID:{uid}", "CLASS:PUBLIC", "PRIORITY:5", f"DTSTAMP:{_stamp(now)}", "TRANSP:OPAQUE", "STATUS:CONFIRMED",
        "SEQUENCE:0", "LOCATION;LANGUAGE=en-US:Microsoft Teams Meeting", "X-MICROSOFT-CDO-APPT-SEQUENCE:0",
        "X-MICROSOFT-CDO-OWNERAPPTID:-1480478512", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
        "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY", "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE", "X-MICROSOFT-CDO-IMPORTANCE:1",
        "X-MICROSOFT-CDO-INSTTYPE:0", "X-MICROSOFT-DONOTFORWARDMEETING:FALSE", "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
        "X-MICROSOFT-REQUESTEDATTENDANCEMODE:DEFAULT", "X-MICROSOFT-ISRESPONSEREQUESTED:TRUE",
        "END:VEVENT", "END:VCALENDAR"])
    boundary = "_000_BY5PR11MB41476E0F2D1B3C4A5E6F7A8B9C0DBY5PR11MB4147namp_"
    html = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=us-ascii"></head><body>' \
           f'<div>{comment}</div></body></html>'
    return _crlf(f"""From: {name} <{attendee}>
To: {organizer_name} <{organizer}>
Subject: {OUTLOOK_SUBJECT[partstat]}: {summary}
Thread-Topic: {summary}
Thread-Index: AQHZxGx0q8b2nM1f3kOeLh1Q2Vr7sQ==
Date: {format_datetime(now)}
Message-ID: {message_id or f"<BY5PR11MB4147{_digest(attendee, partstat).upper()}@BY5PR11MB4147.namprd11.prod.outlook.com>"}
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative; boundary="{boundary}"
MIME-Version: 1.0

--{boundary}
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{comment}

--{boundary}
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(html.encode()).decode()}

--{boundary}
Content-Type: text/calendar; charset="utf-8"; method=REPLY
Content-Transfer-Encoding: base64

{_b64(ics)}
--{boundary}--
""")


def apple_reply(*, attendee: str, name: str, organizer: str, partstat: str = "TENTATIVE",
                uid: str = "8E3C1B2A-5F4D-4C3B-9A8E-7D6C5B4A3F2E", summary: str = "Northwind demo",
                start_local: str = "20270114T110000", now: datetime | None = None) -> bytes:
    """Apple Calendar's response mail (iPhone), quoted-printable, in Europe/Berlin time."""
    now = now or datetime.now(UTC)
    ics = _ics([
        "BEGIN:VCALENDAR", "CALSCALE:GREGORIAN", "METHOD:REPLY", "PRODID:-//Apple Inc.//iPhone OS 17.2//EN",
        "VERSION:2.0", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:DAYLIGHT", "DTSTART:19810329T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "TZNAME:CEST", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
        "END:DAYLIGHT", "BEGIN:STANDARD", "DTSTART:19961027T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "TZNAME:CET", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE", "BEGIN:VEVENT",
        f'ATTENDEE;CN="{name}";CUTYPE=INDIVIDUAL;EMAIL="{attendee}";PARTSTAT={partstat};ROLE=REQ-PARTICIPANT:'
        f"mailto:{attendee}", f"CREATED:{_stamp(now - timedelta(days=1))}",
        f"DTEND;TZID=Europe/Berlin:{start_local[:9]}{int(start_local[9:11]) + 1:02d}0000", f"DTSTAMP:{_stamp(now)}",
        f"DTSTART;TZID=Europe/Berlin:{start_local}", f"LAST-MODIFIED:{_stamp(now)}",
        f'ORGANIZER;CN="{organizer}":mailto:{organizer}', "SEQUENCE:0", "STATUS:CONFIRMED", f"SUMMARY:{summary}",
        "TRANSP:OPAQUE", f"UID:{uid}", "END:VEVENT", "END:VCALENDAR"])
    boundary = "Apple-Mail-5E0B7C1D-3A2F-4B8E-9C6D-1F0E2D3C4B5A"
    ics_lf = ics.replace("\r\n", "\n")        # quoted-printable lines end with the message's own line breaks
    return _crlf(f"""Content-Type: multipart/alternative; boundary={boundary}
Content-Transfer-Encoding: 7bit
From: {name} <{attendee}>
Mime-Version: 1.0 (1.0)
Date: {format_datetime(now)}
Subject: {APPLE_SUBJECT[partstat]}: {summary}
Message-Id: <5E0B7C1D-3A2F-4B8E-9C6D-{_digest(attendee, partstat).upper()}@icloud.com>
To: {organizer}
X-Mailer: iPhone Mail (21C62)


--{boundary}
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit




--{boundary}
Content-Type: text/calendar; charset=utf-8; name=meeting.ics; method=REPLY
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(ics_lf.encode()).decode()}

--{boundary}--
""")
