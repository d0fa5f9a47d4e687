"""The project's own reply-accuracy cases (bench/reply_accuracy_cases/) load in the corpus format,
are scored strictly, and all pass with extract_reply."""

from __future__ import annotations

import time

import pytest

from bench.reply_accuracy import OWN_CASES, own_fixtures, threadline, verdict

FIXTURES = own_fixtures()
SIGNATURE = [f for f in FIXTURES if f.source == "own:signature"]
CORPUS_LANGUAGES = {"en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "ru", "uk",
                    "ja", "zh", "ko", "tr"}


def test_signature_category_states_what_must_go_and_what_must_stay_in_every_corpus_language():
    assert (OWN_CASES / "signature" / "checks.json").is_file()
    must_go = [f for f in SIGNATURE if f.check.get("not_contains") and f.check["kind"] == "visible"]
    must_stay = [f for f in SIGNATURE if f.check["kind"] == "unchanged"]
    assert len(must_go) >= 25 and len(must_stay) >= 10
    assert {f.check["language"] for f in must_go} >= CORPUS_LANGUAGES
    assert all(f.path.is_file() and f.check.get("exact") is True for f in SIGNATURE)


@pytest.mark.parametrize("fixture", SIGNATURE, ids=lambda f: f.key.rsplit("/", 1)[-1])
def test_extract_reply_passes_each_signature_case(fixture):
    text = fixture.path.read_text(encoding="utf-8")
    started = time.perf_counter()
    result = threadline(text, None, str(fixture.check.get("sender") or ""))
    assert verdict(fixture, result, time.perf_counter() - started), result


def test_exact_cases_allow_no_signoff_tail_either_way():
    fixture = next(f for f in SIGNATURE if f.key.endswith("keep_confidential_in_body.txt"))
    expected = fixture.check["reply"]
    assert verdict(fixture, expected, 0.0)
    assert not verdict(fixture, expected + "\n\nBest,\nJordan", 0.0)      # the sign-off must go
    keep = next(f for f in SIGNATURE if f.key.endswith("keep_sender_name_alone.txt"))
    assert not verdict(keep, "", 0.0)                                      # the reply must stay
