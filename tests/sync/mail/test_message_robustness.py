"""parse_message on hostile input: only MalformedMessage may escape, and it stays fast."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.sync.mail.message import MalformedMessage, ParsedMessage, parse_message

SEED = (b"From: =?utf-8?q?Dana?= <dana@client.example>\r\nTo: rep@example.com\r\nSubject: Re: x\r\n"
        b"Date: Tue, 04 Mar 2025 10:15:00 +0100\r\nMessage-ID: <a@b>\r\n"
        b'Content-Type: multipart/alternative; boundary="zz"\r\n\r\n--zz\r\n'
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Caf=E9 ok\r\n--zz\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PGI+aGk8L2I+\r\n--zz--\r\n")


def parse_or_reject(raw: bytes) -> ParsedMessage | None:
    try:
        return parse_message(raw)
    except MalformedMessage as exc:
        assert exc.reason
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_raise_nothing_but_malformed_message(raw):
    parsed = parse_or_reject(raw)
    assert parsed is None or "@" in parsed.from_address


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_real_message_raises_nothing_but_malformed_message(data):
    raw = bytearray(SEED)
    for _ in range(data.draw(st.integers(1, 12))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    parse_or_reject(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))


def test_seed_message_is_read_with_its_charsets():
    parsed = parse_message(SEED)
    assert parsed.text.strip() == "Café ok"
    assert parsed.html == "<b>hi</b>"


def test_header_bomb_is_handled_quickly():
    raw = b"From: a@client.example\r\n" + b"To: " + b"x@y.example, " * 50_000 + b"\r\n\r\nhi\r\n"
    started = time.perf_counter()
    parsed = parse_or_reject(raw)
    assert time.perf_counter() - started < 5
    assert parsed is not None and parsed.from_address == "a@client.example"
