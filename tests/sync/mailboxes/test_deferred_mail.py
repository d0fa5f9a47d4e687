"""Deferred mail keeps what a reply is decided and logged from, and nothing it need not."""

from __future__ import annotations

from email.message import EmailMessage

from threadline.sync.mail.message import parse_message
from threadline.sync.mail.reply_text import extract_reply
from threadline.sync.mailboxes.deferred import SLIM_ABOVE, slim


def reply_with_attachment(*, message_id: str | None, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Pat <pat@buyer.example>", "rep@seller.example", "Re: the quote"
    msg["In-Reply-To"] = msg["References"] = "<quote-1@seller.example>"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content("Yes, send the contract.\n\nOn Monday, Rep wrote:\n> Here is the quote\n")
    msg.add_alternative("<p>Yes, send the contract.</p>", subtype="html")
    msg.add_attachment(b"%PDF" + b"x" * size, maintype="application", subtype="pdf", filename="signed.pdf")
    return msg.as_bytes()


def test_a_small_message_is_kept_as_it_is() -> None:
    raw = reply_with_attachment(message_id="<r1@buyer.example>", size=1000)
    assert slim(raw) == raw


def test_a_large_message_keeps_its_headers_and_text_and_drops_the_attachment() -> None:
    raw = reply_with_attachment(message_id="<r2@buyer.example>", size=2 * SLIM_ABOVE)
    kept = slim(raw)
    assert len(kept) < 4096 < SLIM_ABOVE < len(raw)
    before, after = parse_message(raw), parse_message(kept)
    assert (after.message_id, after.from_address, after.to, after.subject, after.in_reply_to) == (
        before.message_id, before.from_address, before.to, before.subject, before.in_reply_to)
    assert extract_reply(after.text, after.html) == extract_reply(before.text, before.html) == "Yes, send the contract."


def test_a_large_message_without_a_message_id_is_kept_whole() -> None:
    """Its identity (the key it is logged under) is a digest of its bytes: slimming would change it."""
    raw = reply_with_attachment(message_id=None, size=2 * SLIM_ABOVE)
    assert slim(raw) == raw


def test_a_large_message_with_a_repeated_header_is_slimmed_not_refused() -> None:
    raw = reply_with_attachment(message_id="<r3@buyer.example>", size=2 * SLIM_ABOVE)
    raw = raw.replace(b"Subject: Re: the quote", b"Subject: Re: the quote\nSubject: Re: the quote (again)", 1)
    kept = slim(raw)
    assert len(kept) < 4096
    assert extract_reply(parse_message(kept).text, None) == "Yes, send the contract."


def test_a_large_meeting_response_keeps_its_calendar_part() -> None:
    """Slimmed, an "Accepted:" response must still read as a meeting response when it is decided again."""
    from threadline.sync.mail.calendar_reply import read_calendar

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Pat <pat@buyer.example>", "rep@seller.example", "Accepted: Demo"
    msg["Message-ID"] = "<accept-1@buyer.example>"
    msg.set_content("Pat has accepted this invitation.")
    calendar = ("BEGIN:VCALENDAR\r\nPRODID:-//Test//EN\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n"
                "UID:demo-1@seller.example\r\nDTSTAMP:20261201T090000Z\r\nDTSTART:20261210T150000Z\r\n"
                "DTEND:20261210T153000Z\r\nORGANIZER:mailto:rep@seller.example\r\n"
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:pat@buyer.example\r\nSUMMARY:Demo\r\nEND:VEVENT\r\n"
                "END:VCALENDAR\r\n")
    msg.add_alternative(calendar, subtype="calendar", params={"method": "REPLY"})
    msg.add_attachment(b"%PDF" + b"x" * 2 * SLIM_ABOVE, maintype="application", subtype="pdf", filename="a.pdf")
    raw = msg.as_bytes()
    kept = slim(raw)
    assert len(kept) < SLIM_ABOVE
    before, after = read_calendar(raw), read_calendar(kept)
    assert before.problem is None and after == before
