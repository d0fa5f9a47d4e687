"""Hostile inputs for the bad-input suite: hypothesis strategies and the generated poison messages.

The strategies build inputs that are *almost* valid (a real header with a broken value, a
multipart with a missing boundary, a YAML tree of the right shape with wrong leaves), because
purely random bytes are rejected at the first check and never reach the code worth testing.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SOAK = os.environ.get("THREADLINE_SOAK") == "1"


def fuzz(ci_examples: int) -> settings:
    """Hypothesis settings: `ci_examples` in CI (derandomized, so CI is deterministic); 100x and random
    under THREADLINE_SOAK=1, where new failures are worth finding."""
    return settings(max_examples=ci_examples * (100 if SOAK else 1), derandomize=not SOAK, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                          HealthCheck.filter_too_much,
                                                          HealthCheck.function_scoped_fixture])

CRLF = b"\r\n"

# --- MIME -----------------------------------------------------------------------------------------------

HEADER_NAMES = st.sampled_from([
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Auto-Submitted",
    "Precedence", "List-Id", "Return-Path", "X-Failed-Recipients", "X-Autoreply", "Bcc",
])
CHARSETS = st.sampled_from([
    "utf-8", "us-ascii", "iso-8859-1", "windows-1252", "utf-16", "utf-7", "shift_jis", "gb2312", "koi8-r",
    "x-unknown", "", "utf-8\x00", "rot13", "base64", "idna", "punycode", "zlib", "hex", "uu", "utf-32",
    "unicode-escape", "raw-unicode-escape", "undefined", "x" * 300, "ISO-2022-JP", "=?", "\u00e9",
])
TRANSFER_ENCODINGS = st.sampled_from(["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode",
                                      "uuencode", "bogus", "", "base64; x=1"])
MEDIA_TYPES = st.sampled_from(["text/plain", "text/html", "multipart/mixed", "multipart/alternative",
                               "message/rfc822", "multipart/report; report-type=delivery-status",
                               "message/delivery-status", "application/octet-stream", "text/", "/", "", "text"])
NASTY_TEXT = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from([
    "\x00", "\r\nBcc: victim@example.com", "\nFrom: forged@evil.example", "=?utf-8?b?////?=",
    "=?x-unknown?q?abc?=", "=?utf-8?q?=E9=?=", "<<<>>>", "@", "a@", "@b", "\"unterminated <x@y.example",
    "(comment (nested", "a@b.example, , ,", "undisclosed-recipients:;", "=?utf-8?b?" + "QQ" * 500 + "?=",
    "\udcff", "\u202e", "x" * 2000, "a" * 400 + "@long.example", "<" + "m" * 450 + "@x.example>", "r" * 600 + "@x",
])
ADDRESSES = st.sampled_from(["dana@client.example", "Dana <dana@client.example>", "<dana@client.example>",
                             "\"Dana, Client\" <dana@client.example>", "dana+tag@client.example",
                             "=?utf-8?q?D=C3=A4na?= <dana@client.example>", "DANA@CLIENT.EXAMPLE",
                             "d" * 330 + "@client.example"])


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    """One header line, often with a broken value, sometimes folded, sometimes with raw 8-bit bytes."""
    name = draw(HEADER_NAMES)
    value = _encode(draw(NASTY_TEXT | ADDRESSES))
    if draw(st.booleans()):
        value += draw(st.binary(max_size=20))
    if draw(st.booleans()):
        value = value.replace(b" ", b"\r\n ", 1)        # folding
    return name.encode() + b": " + value + CRLF


@st.composite
def mime_parts(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A MIME entity: headers with odd types/charsets/encodings and a body; multiparts recurse."""
    media = draw(MEDIA_TYPES)
    head = b"Content-Type: " + media.encode()
    boundary = draw(st.sampled_from(["b" + str(depth), "", "\"unterminated", "--", "b" + str(depth)]))
    if media.startswith("multipart"):
        head += b"; boundary=\"" + boundary.encode() + b"\""
    else:
        head += b"; charset=" + _encode(draw(CHARSETS))
    head += CRLF + b"Content-Transfer-Encoding: " + draw(TRANSFER_ENCODINGS).encode() + CRLF
    if draw(st.integers(0, 3)) == 0:
        head += b"Content-Disposition: " + draw(st.sampled_from([b"attachment", b"inline", b"attachment; filename=\"",
                                                                  b";;;", b"\xff"])) + CRLF
    if media.startswith("multipart") and depth < 4:
        children = draw(st.lists(mime_parts(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary.encode() + CRLF + child + CRLF for child in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--" + CRLF        # closing delimiter, not always present
    else:
        body = draw(st.binary(max_size=200) | st.text(max_size=200).map(_encode)
                    | st.sampled_from([b"=E9=\r\n=XX", b"////", b"PGI+aGk8L2I+", b"begin 644 x\r\n", b"\x00" * 10]))
    return head + CRLF + body


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A whole message: a From (usually), random header lines, a MIME body, maybe truncated."""
    raw = b""
    if draw(st.integers(0, 4)):
        raw += b"From: " + _encode(draw(ADDRESSES)) + CRLF
    raw += b"".join(draw(st.lists(header_lines(), max_size=8)))
    raw += draw(mime_parts())
    if draw(st.integers(0, 5)) == 0:
        raw = raw[:draw(st.integers(0, len(raw)))]
    return raw


# --- poison messages for the end-to-end tests ----------------------------------------------------------

def _head(sender: str, to: str, subject: bytes, msg_id: str, content_type: bytes) -> bytes:
    return (b"From: " + sender.encode() + CRLF + b"To: " + to.encode() + CRLF + b"Subject: " + subject + CRLF
            + b"Date: Mon, 23 Nov 2026 09:00:00 +0000" + CRLF + b"Message-ID: " + msg_id.encode() + CRLF
            + b"MIME-Version: 1.0" + CRLF + b"Content-Type: " + content_type + CRLF)


def broken_mime(to: str) -> bytes:
    """No usable sender, an unterminated multipart, stray 8-bit bytes: cannot be attributed to anyone."""
    return (b"From: =?utf-8?b?////?= <not an address>" + CRLF + b"To: " + to.encode() + CRLF
            + b"Subject: \xff\xfe broken" + CRLF + b"Content-Type: multipart/mixed; boundary=\"" + CRLF + CRLF
            + b"--" + CRLF + b"Content-Type: text/plain; charset=\"" + CRLF + CRLF + b"\xc3\x28 truncated")


def huge_attachment(sender: str, to: str, msg_id: str, size: int = 10 * 1024 * 1024) -> bytes:
    """A short reply with a `size`-byte base64 attachment."""
    blob = base64.encodebytes(bytes(range(256)) * (size // 256))
    return (_head(sender, to, b"Re: the big file", msg_id, b"multipart/mixed; boundary=\"big\"") + CRLF
            + b"--big" + CRLF + b"Content-Type: text/plain; charset=utf-8" + CRLF + CRLF
            + b"Attached is the file you asked for." + CRLF + b"--big" + CRLF
            + b"Content-Type: application/octet-stream" + CRLF + b"Content-Transfer-Encoding: base64" + CRLF
            + b"Content-Disposition: attachment; filename=\"big.bin\"" + CRLF + CRLF + blob + b"--big--" + CRLF)


def deep_nesting(sender: str, to: str, msg_id: str, levels: int = 200) -> bytes:
    """`levels` nested multipart/mixed with the only text at the bottom."""
    body = b"Content-Type: text/plain; charset=utf-8" + CRLF + CRLF + b"Text at the bottom of the well." + CRLF
    for level in reversed(range(levels)):
        boundary = f"n{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"" + CRLF + CRLF
                + b"--" + boundary + CRLF + body + b"--" + boundary + b"--" + CRLF)
    return _head(sender, to, b"Re: nested", msg_id, b"text/plain")[:-len(b"Content-Type: text/plain" + CRLF)] + body


def invalid_charset(sender: str, to: str, msg_id: str) -> bytes:
    """A charset no codec knows, 8-bit bytes that are not UTF-8 either, and an encoded-word in a bogus charset."""
    return (_head(sender, to, b"=?x-no-such-charset?q?Re=3A_prix?=", msg_id,
                  b"text/plain; charset=\"x-no-such-charset\"") + b"Content-Transfer-Encoding: 8bit" + CRLF + CRLF
            + b"Le prix est tr\xe8s \xe9lev\xe9 \xff\xfe." + CRLF)


def nul_bytes(sender: str, to: str, msg_id: str) -> bytes:
    """NUL bytes in the subject, the display name and the body (PostgreSQL text cannot hold them)."""
    return (_head(sender.replace("<", "Na\x00me <"), to, b"Re: nul\x00 inside", msg_id, b"text/plain; charset=utf-8")
            + CRLF + b"Reply with a\x00NUL byte in it." + CRLF)


def oversized_ids(sender: str, to: str) -> bytes:
    """A 450-character Message-ID and a 1,000-character bare In-Reply-To: longer than the store's columns."""
    return (_head(sender, to, b"Re: long ids", "<" + "i" * 440 + "@customer.example>", b"text/plain; charset=utf-8")
            + b"In-Reply-To: " + b"r" * 990 + b"@x.example" + CRLF + CRLF + b"Long ids, short reply." + CRLF)


def oversized_sender(to: str) -> bytes:
    """A From address of 400 characters: no real address is longer than 320."""
    return _head("x" * 380 + "@unknown-sender.example", to, b"hello", "<long-sender@x.example>",
                 b"text/plain; charset=utf-8") + CRLF + b"hi" + CRLF


# --- JSON and YAML --------------------------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["\x00", "${NOPE}", "${A:-}", "a@b.example", "imap", "hubspot", "gmail", "-1",
                              "2026-11-23T09:00:00Z", "contact.propertyChange"]))


def json_trees(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-shaped values (NaN and huge ints included: Python's json emits both)."""
    return st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12) | st.sampled_from(
                            ["value", "clientState", "subscriptionId", "lifecycleEvent", "message", "data",
                             "type", "contact", "id", "email", "occurred_at", "subscriptionType"]), inner, max_size=4),
                        max_leaves=max_leaves)
