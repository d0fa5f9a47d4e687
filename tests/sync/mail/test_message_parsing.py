"""parse_message: what sync, matching and classification read from raw mail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from threadline.sync.mail.message import MalformedMessage, parse_message


def plain_mail(body: str = "Hello Dana,\n\nSounds good.\n", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Dana Reyes <Dana.Reyes@Client.example>")
    msg["To"] = headers.pop("To", "rep@example.com")
    msg["Subject"] = headers.pop("Subject", "Re: Pricing")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def test_addresses_are_lower_cased_addr_specs_with_display_name_kept_apart():
    parsed = parse_message(plain_mail(To='"Rep One" <Rep@Example.com>, other@EXAMPLE.org', Cc="cc@Example.NET",
                                      Reply_To="Desk <desk@client.example>"))
    assert parsed.from_address == "dana.reyes@client.example"
    assert parsed.from_name == "Dana Reyes"
    assert parsed.to == ("rep@example.com", "other@example.org")
    assert parsed.cc == ("cc@example.net",)
    assert parsed.reply_to == ("desk@client.example",)


def test_thread_headers_are_normalised_to_bracketed_ids():
    parsed = parse_message(plain_mail(Message_ID="  <abc@client.example> ", In_Reply_To="<root@example.com>",
                                      References="<root@example.com> <second@example.com>"))
    assert parsed.message_id == "<abc@client.example>"
    assert parsed.in_reply_to == "<root@example.com>"
    assert parsed.references == ("<root@example.com>", "<second@example.com>")


def test_bare_message_id_from_a_broken_client_is_bracketed():
    raw = b"From: a@client.example\r\nMessage-ID: abc123@client.example\r\n\r\nhi\r\n"
    assert parse_message(raw).message_id == "<abc123@client.example>"


def test_encoded_subject_is_decoded():
    raw = b"From: a@client.example\r\nSubject: =?UTF-8?B?UmU6IEdyw7zDn2U=?=\r\n\r\nhi\r\n"
    assert parse_message(raw).subject == "Re: Grüße"


def test_date_is_timezone_aware_and_missing_date_is_none():
    parsed = parse_message(plain_mail(Date="Tue, 04 Mar 2025 10:15:00 +0100"))
    assert parsed.date == datetime(2025, 3, 4, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert parse_message(plain_mail()).date is None


def test_date_without_zone_is_read_as_utc_and_garbage_date_is_noted():
    assert parse_message(plain_mail(Date="4 Mar 2025 10:15:00")).date.tzinfo is not None
    parsed = parse_message(b"From: a@client.example\r\nDate: the day after tomorrow\r\n\r\nhi\r\n")
    assert parsed.date is None
    assert any("Date" in p for p in parsed.problems)


def test_plain_part_is_preferred_over_html_in_alternative_mail():
    msg = EmailMessage()
    msg["From"] = "a@client.example"
    msg.set_content("Plain words")
    msg.add_alternative("<p>HTML <b>words</b></p>", subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text.strip() == "Plain words"
    assert "<b>words</b>" in parsed.html


def test_html_only_mail_gets_text_from_the_html():
    msg = EmailMessage()
    msg["From"] = "a@client.example"
    msg.set_content("<html><head><style>p{}</style></head><body><p>Hi <b>there</b></p><p>Line two</p></body></html>",
                    subtype="html")
    parsed = parse_message(msg.as_bytes())
    assert parsed.text == "Hi there\n\nLine two" or parsed.text == "Hi there\nLine two"
    assert parsed.html is not None


def test_attachments_do_not_become_the_body():
    msg = EmailMessage()
    msg["From"] = "a@client.example"
    msg.set_content("See attached.")
    msg.add_attachment("secret,csv,data\n", filename="data.csv")
    assert parse_message(msg.as_bytes()).text.strip() == "See attached."


def test_classification_headers_are_kept_with_lower_case_names():
    parsed = parse_message(plain_mail(Auto_Submitted="auto-replied", List_Id="<news.client.example>",
                                      Precedence="bulk", X_Mailer="Ignored"))
    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.headers["list-id"] == "<news.client.example>"
    assert parsed.headers["precedence"] == "bulk"


def test_unknown_charset_is_read_as_utf8_and_noted():
    raw = (b"From: a@client.example\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
           b"caf\xc3\xa9\r\n")
    parsed = parse_message(raw)
    assert parsed.text.strip() == "café"
    assert any("unknown charset" in p for p in parsed.problems)


def test_bytes_invalid_in_the_declared_charset_are_replaced_and_noted():
    raw = b"From: a@client.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad \xff\xfe bytes\r\n"
    parsed = parse_message(raw)
    assert parsed.text.startswith("bad ") and "\ufffd" in parsed.text
    assert any("replacement" in p for p in parsed.problems)


def test_broken_base64_body_is_tolerated():
    raw = (b"From: a@client.example\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=!!!not*base64\r\n")
    parsed = parse_message(raw)
    assert isinstance(parsed.text, str)
    assert parsed.from_address == "a@client.example"


def test_deeply_nested_multipart_is_capped_not_fatal():
    depth = 60
    head = b"From: a@client.example\r\nMIME-Version: 1.0\r\n"
    body = b""
    for level in range(depth):
        body += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    body += b"Content-Type: text/plain\r\n\r\ndeep text\r\n"
    for level in reversed(range(depth)):
        body += f"--b{level}--\r\n".encode()
    parsed = parse_message(head + body)
    assert parsed.from_address == "a@client.example"
    assert any("nesting" in p for p in parsed.problems)


def test_huge_body_parses_quickly():
    import time

    raw = plain_mail(body="lorem ipsum dolor sit amet\n" * 400_000)     # about 11 MB
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert parsed.text.startswith("lorem ipsum")
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("raw, reason", [
    (b"To: rep@example.com\r\nSubject: hi\r\n\r\nbody\r\n", "no From header"),
    (b"From: \r\nSubject: hi\r\n\r\nbody\r\n", "no From header"),
    (b"From: Just A Name\r\n\r\nbody\r\n", "From header has no address"),
    (b"", "no From header"),
])
def test_messages_without_a_usable_sender_are_malformed(raw, reason):
    with pytest.raises(MalformedMessage) as caught:
        parse_message(raw)
    assert caught.value.reason == reason


def test_non_bytes_input_is_malformed():
    with pytest.raises(MalformedMessage):
        parse_message("From: a@b.example\r\n\r\nhi")  # type: ignore[arg-type]


def test_parsed_message_is_immutable():
    parsed = parse_message(plain_mail())
    with pytest.raises(AttributeError):
        parsed.subject = "changed"  # type: ignore[misc]


def test_raw_utf8_headers_from_sloppy_clients_are_read():
    raw = "From: Zoë Müller <zoe@client.example>\r\nSubject: Re: Grüße\r\n\r\nhi\r\n".encode()
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.subject) == ("Zoë Müller", "Re: Grüße")


def test_encoded_comma_in_a_display_name_does_not_split_the_address():
    raw = b"From: =?utf-8?q?Reyes=2C_Dana?= <dana@client.example>\r\n\r\nhi\r\n"
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.from_address) == ("Reyes, Dana", "dana@client.example")
