"""extract_reply never raises, stays fast on hostile input, and only ever removes text."""

from __future__ import annotations

import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from threadline.sync.mail.reply_text import INVISIBLE, MAX_TEXT_CHARS, extract_reply

MAIL_ALPHABET = st.sampled_from(list("ab >:-_\n\t@<>.,*|=") + ["On ", "wrote:", "From: ", "Sent: ", "-- ",
                                                             "Sent from my ", "Thanks,", "\r\n", "schrieb", "2025"])


def words_of(text: str) -> set[str]:
    """The words of `text` once the characters the extractor always drops (zero-width marks, Gmail's U+1427
    tracker dot) are gone: what is left of a reply is always made of these."""
    return set(INVISIBLE.sub("", text).split())


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=3000))
@example("0\u1427")            # found by hypothesis: the tracker dot is dropped, the word stays
def test_arbitrary_text_never_raises_and_only_removes(text):
    result = extract_reply(text)
    assert isinstance(result, str)
    assert words_of(result) <= words_of(text.replace("\u00a0", " "))


@settings(max_examples=300, deadline=None)
@given(st.lists(MAIL_ALPHABET, max_size=400).map("".join))
def test_mail_shaped_noise_never_raises_and_only_removes(text):
    result = extract_reply(text)
    assert words_of(result) <= words_of(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000), st.text(max_size=2000))
def test_arbitrary_html_never_raises(text, html):
    assert isinstance(extract_reply(text, "<div>" + html + "<blockquote type=cite>" + html), str)


def run_time(text: str, html: str | None = None) -> float:
    started = time.perf_counter()
    extract_reply(text, html)
    return time.perf_counter() - started


def test_pathological_inputs_finish_fast():
    cases = [
        "On " * 200_000,                                     # attribution opener without an end
        ("On Mon, Mar 3, 2025 at 9:00 AM " + "x" * 50 + "\n") * 20_000,
        "From: a\n" * 100_000,
        ("a" * 10_000 + " wrote:") * 50,
        ">" * 1_000_000,
        "-" * 1_000_000,
        " \t" * 500_000 + "x",
        "Thanks, A B C D E F G H" * 50_000,
        "\n" * 1_000_000,
    ]
    for text in cases:
        assert run_time(text) < 1.0, text[:40]
    assert run_time("", "<div>" * 50_000 + "hi") < 2.0
    assert run_time("", "<blockquote type=cite>" * 20_000 + "hi") < 2.0


def test_only_the_head_of_a_huge_body_is_examined():
    huge = "New text.\n\n" + "filler line\n" * (MAX_TEXT_CHARS // 4)
    assert extract_reply(huge).startswith("New text.")
    assert len(extract_reply(huge)) <= MAX_TEXT_CHARS


def test_non_string_input_returns_empty_text():
    assert extract_reply(None) == ""  # type: ignore[arg-type]
