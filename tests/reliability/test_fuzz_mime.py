"""Hostile mail through the whole per-message pipeline: parse, classify, decide, extract the reply.

Each generated message either parses or is rejected with a reason (MalformedMessage, which sync
quarantines); what parses is storable as is (no NUL, no lone surrogate: PostgreSQL and SQLite refuse
those and the page, with its cursor, would fail) and single-line where a header value is one line.
Extends tests/sync/mail/test_message_robustness.py (random bytes, bit flips) with *structured* damage.
"""

from __future__ import annotations

import encodings.aliases
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.strategies import CRLF, deep_nesting, fuzz, header_lines, huge_attachment, messages
from threadline.sync.mail.classify import Classification, classify
from threadline.sync.mail.html_text import html_to_text
from threadline.sync.mail.matching import AddressPolicy, decide
from threadline.sync.mail.message import MAX_MESSAGE_BYTES, MalformedMessage, ParsedMessage, parse_message
from threadline.sync.mail.reply_text import extract_reply

POLICY = AddressPolicy(internal_domains=frozenset({"example.com"}))
CODECS = sorted(set(encodings.aliases.aliases.values()) | {"utf-7", "x-unknown", "utf-8-sig", "mbcs", "oem"})


def storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def through_pipeline(raw: bytes) -> ParsedMessage | None:
    """What sync does with one message, minus the store: every step must finish or reject with a reason."""
    try:
        parsed = parse_message(raw)
    except MalformedMessage as exc:
        assert exc.reason and storable(exc.reason)
        return None
    strings = [parsed.subject, parsed.from_address, parsed.from_name, parsed.text, parsed.html or "",
               *parsed.to, *parsed.cc, *parsed.reply_to, *parsed.references, *parsed.headers.values(),
               parsed.message_id or "", parsed.in_reply_to or ""]
    assert all(storable(s) for s in strings), [s for s in strings if not storable(s)][:1]
    assert "@" in parsed.from_address and "\n" not in parsed.subject and "\r" not in parsed.subject
    # what the store's columns hold (PostgreSQL refuses longer values; the page and its cursor would fail)
    assert len(parsed.from_address) <= 320 and len(parsed.subject[:998]) <= 998
    assert all(len(i) <= 400 for i in (parsed.message_id or "", parsed.in_reply_to or "", *parsed.references))
    classification = classify(parsed)
    decision = decide(parsed, classification, "inbox", "rep@example.com", POLICY,
                      lambda address: ["c1"] if address.endswith("client.example") else [], lambda: [])
    assert decision.reason
    reply = extract_reply(parsed.text, parsed.html)
    assert storable(reply)
    return parsed


@fuzz(150)
@given(messages())
def test_structurally_broken_messages_parse_or_are_rejected_with_a_reason(raw: bytes) -> None:
    through_pipeline(raw)


@fuzz(60)
@given(st.sampled_from(CODECS), st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"]),
       st.binary(max_size=300))
def test_every_codec_name_as_a_charset_gives_storable_text(charset: str, encoding: str, body: bytes) -> None:
    raw = (b"From: dana@client.example" + CRLF + b"Subject: =?" + charset.encode() + b"?q?caf=E9?=" + CRLF
           + b"Content-Type: text/plain; charset=\"" + charset.encode() + b"\"" + CRLF
           + b"Content-Transfer-Encoding: " + encoding.encode() + CRLF + CRLF + body)
    parsed = through_pipeline(raw)
    assert parsed is not None and parsed.from_address == "dana@client.example"


def test_unicode_escape_charset_cannot_smuggle_a_lone_surrogate_into_the_store() -> None:
    raw = (b"From: dana@client.example" + CRLF + b"Content-Type: text/plain; charset=unicode-escape" + CRLF + CRLF
           + b"before \\ud800 after \\x00 end")
    parsed = through_pipeline(raw)
    assert parsed is not None and parsed.text.startswith("before ") and parsed.problems


@fuzz(80)
@given(st.lists(header_lines(), min_size=1, max_size=30))
def test_header_injection_in_any_header_never_yields_a_multi_line_subject_or_a_forged_sender(lines: list[bytes]) -> None:
    raw = b"From: dana@client.example" + CRLF + b"".join(lines) + CRLF + b"body" + CRLF
    parsed = through_pipeline(raw)
    assert parsed is not None          # the first From wins, later (injected) From headers do not replace it
    assert parsed.from_address == "dana@client.example"


def test_encoded_crlf_in_subject_and_name_stays_on_one_line() -> None:
    raw = (b"From: =?utf-8?q?Dana=0D=0ABcc:_victim@x.example?= <dana@client.example>" + CRLF
           + b"Subject: =?utf-8?q?Hello=0D=0ABcc:_victim@x.example?=" + CRLF + CRLF + b"hi" + CRLF)
    parsed = through_pipeline(raw)
    assert parsed is not None
    assert parsed.subject == "Hello Bcc: victim@x.example" and "\n" not in parsed.from_name
    assert parsed.to == () and parsed.cc == ()


@pytest.mark.parametrize("levels", [200, 1000, 5000])
def test_deep_nesting_is_capped_quickly(levels: int) -> None:
    # CPU seconds of this thread, not the wall clock: other tests running beside it on a loaded machine (CI
    # runs four workers on two cores) do not count; a parser that blew up would.
    started = time.thread_time()
    parsed = through_pipeline(deep_nesting("dana@client.example", "rep@example.com", "<d@x>", levels))
    assert time.thread_time() - started < 3
    if parsed is not None:             # the stdlib may give up on the deepest ones: rejected, with a reason
        assert any("nesting" in p for p in parsed.problems)


def test_a_message_over_the_size_cap_is_read_from_its_head() -> None:
    raw = huge_attachment("dana@client.example", "rep@example.com", "<big@x>", size=MAX_MESSAGE_BYTES)
    started = time.thread_time()
    parsed = through_pipeline(raw)
    assert time.thread_time() - started < 10
    assert parsed is not None and parsed.text == "Attached is the file you asked for."
    assert any("truncated" in p for p in parsed.problems)


@fuzz(40)
@given(st.data())
def test_a_good_reply_cut_anywhere_parses_or_is_rejected(data: st.DataObject) -> None:
    raw = (b"From: Dana <dana@client.example>" + CRLF + b"To: rep@example.com" + CRLF + b"Subject: Re: x" + CRLF
           + b"Content-Type: multipart/alternative; boundary=\"b\"" + CRLF + CRLF + b"--b" + CRLF
           + b"Content-Type: text/plain; charset=utf-8" + CRLF + b"Content-Transfer-Encoding: base64" + CRLF + CRLF
           + b"WWVzLCBsZXQncyB0YWxrIFR1ZXNkYXku" + CRLF + b"--b" + CRLF + b"Content-Type: text/html" + CRLF + CRLF
           + b"<div>Yes<blockquote type=cite>old</blockquote>" + CRLF + b"--b--" + CRLF)
    through_pipeline(raw[:data.draw(st.integers(0, len(raw)))])


# --- addresses and matching -----------------------------------------------------------------------------

LOCALS = st.sampled_from(["dana", "Dana", "dana+x", "dana+", "+x", "", " dana ", "d\u00e4na", "\"q a\"", "a@b"])
DOMAINS = st.sampled_from(["client.example", "CLIENT.example", "northwind.example", "spam.example", "", "@", "x"])
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", LOCALS, DOMAINS) | st.text(max_size=12)
KNOWN = {"dana@client.example": "c1", "bo@northwind.example": "c2"}
POLICIES = st.builds(
    AddressPolicy,
    internal_domains=st.frozensets(DOMAINS, max_size=2), exclude_domains=st.frozensets(DOMAINS, max_size=2),
    exclude_addresses=st.frozensets(ADDRESS, max_size=2), plus_addressing=st.booleans(),
    aliases=st.dictionaries(ADDRESS, ADDRESS, max_size=2), log_outgoing=st.booleans())


def message_between(sender: str, to: tuple[str, ...], cc: tuple[str, ...]) -> ParsedMessage:
    return ParsedMessage(message_id=None, in_reply_to=None, references=(), subject="s", from_address=sender,
                         from_name="", to=to, cc=cc, reply_to=(), date=None, text="hi", html=None, headers={})


@fuzz(300)
@given(POLICIES, ADDRESS, st.lists(ADDRESS, max_size=3), st.lists(ADDRESS, max_size=2),
       st.sampled_from(["inbox", "sent", "archive", ""]), st.lists(st.sampled_from(["c1", "c9"]), max_size=2))
def test_matching_any_addresses_never_raises_and_logs_only_on_known_contacts(
        policy: AddressPolicy, sender: str, to: list[str], cc: list[str], folder: str, thread: list[str]) -> None:
    message = message_between(sender, tuple(to), tuple(cc))
    decision = decide(message, Classification("message", "m"), folder, "rep@northwind.example", policy,
                      lambda address: [KNOWN[address]] if address in KNOWN else [], lambda: thread)
    assert decision.reason
    if decision.action == "log":
        assert decision.contact_ids and set(decision.contact_ids) <= {"c1", "c2", *thread}
        parties = {policy.normalize(a) for a in (sender, *to, *cc)} - {policy.normalize("rep@northwind.example")}
        assert any(not policy.is_internal(a) for a in parties)       # never an internal-only thread
        if folder != "sent":
            assert not policy.is_excluded(policy.normalize(sender))


@fuzz(200)
@given(ADDRESS)
def test_address_normalisation_is_lower_case_stripped_and_idempotent(address: str) -> None:
    policy = AddressPolicy(plus_addressing=True)
    once = policy.normalize(address)
    assert once == once.strip().lower() and policy.normalize(once) == once


# --- HTML bodies ----------------------------------------------------------------------------------------

TAGS = st.sampled_from(["div", "p", "br", "blockquote", "span", "table", "tr", "td", "li", "a", "b", "pre", "hr",
                        "html", "body", "head", "title", "template", "noscript", "svg", "math", "iframe", "x-y"])
ATTRS = st.sampled_from(["", " class=gmail_quote", " type=cite", " id=divRplyFwdMsg", " style='border-top:solid'",
                         " id=appendonsend", " class=\"a", " style=", " data-marker=__QUOTED_TEXT__", " =x"])
HIDDEN = "HIDDENMARK"        # text inside script/style/head: never shown as reply text


@st.composite
def html_documents(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 6))
        if kind == 0 and depth < 6:
            tag = draw(TAGS)
            closed = draw(st.booleans())
            parts.append(f"<{tag}{draw(ATTRS)}>{draw(html_documents(depth + 1))}" + (f"</{tag}>" if closed else ""))
        elif kind == 1:
            parts.append(f"<{draw(st.sampled_from(['script', 'style']))}>{HIDDEN}</{draw(st.sampled_from(['script', 'style']))}>")
        elif kind == 2:
            parts.append(draw(st.sampled_from(["&amp;", "&#0;", "&#xD800;", "&nbsp;", "&bogus", "<!--", "-->",
                                               "<![CDATA[x]]>", "</", "<", ">", "\x00", "\ue000", "<!doctype x>"])))
        else:
            parts.append(draw(st.text(max_size=20)))
    return "".join(parts)


@fuzz(200)
@given(html_documents())
def test_hostile_html_becomes_plain_text_without_the_line_break_marker(html: str) -> None:
    text = html_to_text(html)
    if "\ue000" not in html:
        assert "\ue000" not in text                      # the private line-break marker never leaks
    assert isinstance(extract_reply("", html), str)


WELL_FORMED_TEXT = st.text(st.characters(blacklist_characters="<>&\"'\ue000"), max_size=15)


@st.composite
def well_formed_html(draw: st.DrawFn, depth: int = 0) -> str:
    """Balanced tags and plain text, with script/style/iframe blocks holding HIDDEN."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 3))
        if kind == 0 and depth < 5:
            tag = draw(TAGS.filter(lambda t: t not in ("br", "hr", "html", "body", "head", "svg", "math")))
            parts.append(f"<{tag}>{draw(well_formed_html(depth + 1))}</{tag}>")
        elif kind == 1:
            # (not noscript: mail clients run no scripts, and at the top of a document the HTML standard
            # moves its text into the body, where it shows)
            tag = draw(st.sampled_from(["script", "style", "iframe", "template", "title"]))
            parts.append(f"<{tag}>{HIDDEN}</{tag}>")
        else:
            parts.append(draw(WELL_FORMED_TEXT))
    return "".join(parts)


@fuzz(150)
@given(well_formed_html())
def test_script_style_and_frame_content_never_becomes_reply_text(html: str) -> None:
    assert HIDDEN not in html_to_text(html)
    assert HIDDEN not in extract_reply("", html)


def test_the_html_tag_cap_keeps_a_hostile_body_fast() -> None:
    for html in ["<div>" * 100_000, "<a " * 100_000, "<!--" * 100_000, "<table><tr><td>" * 20_000,
                 "&amp;" * 200_000, "<p>" + "x" * 2_000_000]:
        started = time.thread_time()
        html_to_text(html)
        assert time.thread_time() - started < 2, html[:20]
