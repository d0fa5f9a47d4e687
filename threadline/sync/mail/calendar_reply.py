"""Read iMIP calendar messages (RFC 6047): meeting responses and invitations are meetings, not replies.

When a prospect clicks "Yes" on an invitation, Google Calendar, Outlook/Exchange and Apple Calendar send the
organizer a message ("Accepted: Demo @ Tue 12 Jan ...") whose meaning is in a `text/calendar` part with
`METHOD:REPLY` and the attendee's `PARTSTAT`. Read as mail it looked like a reply (or, for Google, which marks
them `Auto-Submitted: auto-generated`, like an auto-reply). Here the calendar part is found and parsed with
the `icalendar` library, and what the message means becomes a meeting event:

- METHOD:REPLY, PARTSTAT=ACCEPTED: ``meeting.booked`` (the prospect said yes: a meeting is on);
- METHOD:REPLY, PARTSTAT=TENTATIVE: ``meeting.tentative`` (maybe);
- METHOD:REPLY, PARTSTAT=DECLINED: ``meeting.declined``;
- METHOD:REQUEST from the prospect: ``meeting.booked`` (the prospect put a meeting on the rep's calendar);
- METHOD:CANCEL from the prospect: ``meeting.cancelled``.

An invitation the prospect sends is ``meeting.booked``, not a type of its own: what a rep means by "booked a
meeting" is that time with the prospect is on the calendar, and a prospect who sends the invitation has booked
it; it must stop a follow-up sequence and count in the sequence reports exactly like a meeting the CRM shows.

Where the calendar part is looked for: the message's own MIME tree (a ``text/calendar`` part, inline in a
multipart/alternative or attached, an ``application/ics`` part, or an attachment named ``*.ics``), never inside
an attached message (a forwarded invitation or a bounce of one is not the sender's response). Anything that
cannot be read (broken iCalendar, no VEVENT, no UID, no attendee with a known response) gives no response and
a `problem` saying why: the message is then handled as any other mail.

What the ingest does with a response (decision, contacts, events) is in sync/mailboxes/meetings.py.

Pure: bytes in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

import icalendar

#: Cheap test on the lower-cased raw bytes before any MIME parsing: most mail has no calendar part at all.
#: (Plain `in` tests: a case-insensitive regex over the bytes cost more than parsing the whole message.)
CALENDAR_HINTS = (b"/calendar", b"/ics", b".ics")
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
#: An .ics attachment some clients send with a generic type.
GENERIC_TYPES = frozenset({"application/octet-stream", "text/plain", "text/x-vcalendar", "application/x-ics"})
MAX_CALENDAR_BYTES = 512 * 1024          # a meeting response is a few KB; a bigger part is not one
MAX_PARTS = 200
MAX_DEPTH = 12

#: (METHOD, PARTSTAT) -> event type. REQUEST/CANCEL carry no response of the sender's, hence None.
EVENT_TYPES: dict[tuple[str, str | None], str] = {
    ("REPLY", "ACCEPTED"): "meeting.booked",
    ("REPLY", "TENTATIVE"): "meeting.tentative",
    ("REPLY", "DECLINED"): "meeting.declined",
    ("REQUEST", None): "meeting.booked",
    ("CANCEL", None): "meeting.cancelled",
}
MEETING_EVENT_TYPES = frozenset(EVENT_TYPES.values())
#: Words for reasons and event data.
RESPONSE_WORDS = {"ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined"}


@dataclass(frozen=True)
class CalendarResponse:
    """What one iMIP message says: the method, the meeting (UID, occurrence, start) and who responded how.

    For REPLY, `attendees` are the (address, PARTSTAT) pairs of the replying attendees (RFC 5546 puts only
    the responder in a REPLY). For REQUEST and CANCEL, `attendees` is empty: the sender is the organizer.
    """

    method: str                                 # "REPLY" | "REQUEST" | "CANCEL"
    uid: str
    recurrence_id: str | None                   # one occurrence of a recurring meeting, as its iCalendar value
    summary: str
    starts_at: datetime | None                  # UTC; an all-day meeting starts at midnight UTC
    organizer: str | None                       # lower-case address
    attendees: tuple[tuple[str, str], ...] = ()
    product: str = ""                           # PRODID: which client wrote it (Google, Exchange, Apple, ...)
    comment: str = ""                           # what the responder typed with the response (COMMENT), if any

    @property
    def partstat(self) -> str | None:
        """The response of a REPLY (its first replying attendee's PARTSTAT); None for REQUEST and CANCEL."""
        return self.attendees[0][1] if self.method == "REPLY" and self.attendees else None

    @property
    def event_type(self) -> str:
        """The event this response becomes (see the module docstring)."""
        return EVENT_TYPES[(self.method, self.partstat)]

    def describe(self) -> str:
        """One line for the message's decision reason: what it is and for which meeting (no customer text
        beyond what the subject line shows anyway)."""
        if self.method == "REPLY":
            who = ", ".join(a for a, _ in self.attendees)
            return f"calendar reply: {RESPONSE_WORDS.get(self.partstat or '', '?')} by {who} ({self.event_type})"
        what = "invitation" if self.method == "REQUEST" else "cancellation"
        return f"calendar {what} from the organizer {self.organizer or '?'} ({self.event_type})"


@dataclass(frozen=True)
class CalendarRead:
    """The response found in a message, or why none was (`problem` is None when there is no calendar part)."""

    response: CalendarResponse | None = None
    problem: str | None = None


NOTHING = CalendarRead()


def read_calendar(raw: bytes, content_type: str | None = None) -> CalendarRead:
    """The iMIP response in the raw message `raw`, if any. Never raises: a part that cannot be read gives a
    `problem` and no response, and the message is handled as mail. `content_type`, the message's own
    Content-Type when the caller has it, spares single-part text mail the scan."""
    if content_type is not None:
        top = content_type.split(";", 1)[0].strip().lower() or "text/plain"
        if not top.startswith("multipart/") and top not in CALENDAR_TYPES | GENERIC_TYPES - {"text/plain"}:
            return NOTHING
    lowered = raw.lower()
    if not any(hint in lowered for hint in CALENDAR_HINTS):
        return NOTHING
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
        parts = _calendar_parts(msg)
    except Exception as exc:  # noqa: BLE001 - the message parser reports its own damage elsewhere
        return CalendarRead(problem=f"MIME structure unreadable: {type(exc).__name__}")
    problems: list[str] = []
    for method_param, payload in parts:
        try:
            found = parse_calendar(payload, method_param)
        except Exception as exc:  # noqa: BLE001 - icalendar raises ValueError and more on hostile input
            problems.append(f"unreadable calendar: {type(exc).__name__}: {exc}"[:200])
            continue
        if isinstance(found, CalendarResponse):
            return CalendarRead(found)
        problems.append(found)
    return CalendarRead(problem="; ".join(dict.fromkeys(problems))[:400] if problems else None)


def parse_calendar(payload: bytes | str, method_param: str | None = None) -> CalendarResponse | str:
    """Parse one iCalendar object; the response it carries, or a string saying why it carries none.

    Raises what `icalendar` raises on text that is not iCalendar at all (the caller catches it).
    `method_param` is the Content-Type's `method=` parameter, used only when the calendar has no METHOD.
    """
    cal = icalendar.Calendar.from_ical(payload)
    method = str(cal.get("METHOD") or method_param or "").strip().upper()
    if not method:
        return "calendar without METHOD: a published calendar, not an iMIP message"
    if method not in {m for m, _ in EVENT_TYPES}:
        return f"calendar METHOD:{method[:20]} is not a response, an invitation or a cancellation"
    events = list(cal.walk("VEVENT"))
    if not events:
        return f"METHOD:{method} calendar without a VEVENT"
    # The master event (no RECURRENCE-ID) speaks for the whole meeting; a reply to one occurrence has only that.
    event = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    uid = str(event.get("UID") or "").strip()
    if not uid:
        return f"METHOD:{method} VEVENT without a UID"
    attendees = _responders(event) if method == "REPLY" else ()
    if isinstance(attendees, str):
        return attendees
    recurrence = event.get("RECURRENCE-ID")
    return CalendarResponse(
        method=method, uid=uid[:300], recurrence_id=_ical_text(recurrence) if recurrence is not None else None,
        summary=str(event.get("SUMMARY") or "")[:300], starts_at=_start(event),
        organizer=_address(event.get("ORGANIZER")),
        attendees=attendees, product=str(cal.get("PRODID") or "")[:100],
        comment=" ".join(str(c) for c in _list(event.get("COMMENT"))).strip()[:500])


def _responders(event: Any) -> tuple[tuple[str, str], ...] | str:
    """The (address, PARTSTAT) of a REPLY's attendees that accepted, declined or answered maybe; or why none."""
    answered = [(address, str(getattr(p, "params", {}).get("PARTSTAT", "")).upper())
                for p in _list(event.get("ATTENDEE")) if (address := _address(p))]
    attendees = tuple((a, s) for a, s in answered if s in RESPONSE_WORDS)
    if not attendees:
        states = ", ".join(sorted({s or "none" for _, s in answered})) or "no attendee"
        return f"METHOD:REPLY without an accepted, tentative or declined attendee ({states[:60]})"
    if len({s for _, s in attendees}) > 1:
        return "METHOD:REPLY with attendees that answered differently"
    return attendees


def _calendar_parts(msg: Message) -> list[tuple[str | None, bytes]]:
    """(method parameter, decoded payload) of the calendar parts of `msg`'s own tree, inline ones first."""
    found: list[tuple[int, str | None, bytes]] = []
    seen = 0

    def walk(part: Message, depth: int) -> None:
        nonlocal seen
        seen += 1
        if seen > MAX_PARTS or depth > MAX_DEPTH:
            return
        ctype = part.get_content_type()
        if part.is_multipart():
            if ctype.startswith("message/"):
                return              # an attached message (forward, bounce): not this sender's response
            for sub in part.get_payload():
                if isinstance(sub, Message):
                    walk(sub, depth + 1)
            return
        filename = (part.get_filename() or "").lower()
        if ctype in CALENDAR_TYPES or (ctype in GENERIC_TYPES and filename.endswith(".ics")):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and 0 < len(payload) <= MAX_CALENDAR_BYTES:
                method = part.get_param("method")
                attached = part.get("content-disposition", "").strip().lower().startswith("attachment")
                found.append((1 if attached else 0, str(method) if isinstance(method, str) else None,
                              _text(payload, part.get_content_charset())))

    walk(msg, 0)
    # Google sends the same calendar inline and as invite.ics: the inline one is read first.
    return [(method, payload) for _, method, payload in sorted(found, key=lambda f: f[0])]


def _text(payload: bytes, charset: str | None) -> bytes:
    """The part as UTF-8 bytes (icalendar decodes bytes as UTF-8); a wrong or unknown charset is repaired."""
    if charset and charset.lower() not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            return payload.decode(charset, "replace").encode("utf-8")
        except LookupError:
            pass
    return payload.decode("utf-8", "replace").encode("utf-8")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: Any) -> str | None:
    """The address of an ORGANIZER/ATTENDEE (`mailto:` URI, any case), lower-cased; None when there is none."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().lower()
    return text if "@" in text and " " not in text and len(text) <= 320 else None


def _ical_text(value: Any) -> str:
    """A property's value as iCalendar text (RECURRENCE-ID: `20270112T180000Z`), stable across re-reads."""
    try:
        return str(value.to_ical().decode("utf-8", "replace"))[:100]
    except Exception:  # noqa: BLE001 - a vBroken value or an unusual type: its plain text will do
        return str(value)[:100]


def _start(event: Any) -> datetime | None:
    """DTSTART in UTC, or None when it is missing or unreadable (icalendar keeps a broken one as text)."""
    try:
        value = event.decoded("DTSTART")
    except Exception:  # noqa: BLE001 - missing, or a time zone icalendar cannot resolve
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    return None

