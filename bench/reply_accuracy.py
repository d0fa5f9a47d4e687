"""Score extract_reply (and, for comparison, the raw libraries) on the shared reply corpus
and on the project's own case categories (bench/reply_accuracy_cases/<category>/).

Run: .venv/bin/python bench/reply_accuracy.py   (prints JSON; failures go to bench/out/)

Categories: each corpus source is one, scored as the source's tests state (`per_source`;
`accuracy` is over these only, so it stays comparable with the peers and with earlier runs).
The project's own folders under bench/reply_accuracy_cases/ are more (`own_categories`), in
the corpus's format (checks.json: file -> expectation). `signature`: sign-offs, disclaimers
and client footers that must go (`not_contains`, exact `reply`), and replies that only look
like them and must stay whole (`unchanged`), in the corpus's languages.

Scoring rule (one verdict per distinct email, see bench/corpus.py for which copy's
expectation is used):
  - text is compared after normalisation: CRLF -> LF, NBSP -> space, every run of
    whitespace folded to one space, outer whitespace stripped;
  - visible / derived_visible / unchanged: result == expected, or expected == result
    + a sign-off tail (Threadline drops signatures; several sources keep them);
  - first_fragment / prefix: result starts with expected, or expected == result + sign-off tail;
  - visible_no_whitespace: as visible, with all whitespace removed;
  - contains: every `contains` phrase present;
  - forward_no_top: result is empty;
  - performance: finishes within max_seconds;
  - in every kind, no `not_contains` phrase may appear.
  structure kinds (message counts inside mail-parser-reply) are not scorable here and are skipped.
  A sign-off tail is at most 8 short lines (<= 80 chars) that begins with a "-- " line, a
  mobile footer, a closing phrase ("Thanks,", "Best regards", "Gruß"...) or "-Name".
  A check with `"exact": true` (the project's own cases) allows no sign-off tail either way.
  A check's `sender` (talon's signature cases, our own) is passed to extract_reply as the
  From name; the peer libraries take no sender.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import Fixture, body_of, load_fixtures, require_corpus  # noqa: E402
from threadline.sync.mail import quote_patterns as qp  # noqa: E402
from threadline.sync.mail.html_text import html_to_text  # noqa: E402
from threadline.sync.mail.reply_text import extract_reply  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
OWN_CASES = Path(__file__).resolve().parent / "reply_accuracy_cases"
PINNED = {"visible", "derived_visible", "unchanged", "first_fragment", "prefix", "visible_no_whitespace"}
Extractor = Callable[[str, str | None, str], str]


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def is_signoff_tail(tail: str) -> bool:
    lines = [line.strip() for line in tail.replace("\r", "").split("\n") if line.strip()]
    if not lines or len(lines) > 8 or any(len(line) > 80 for line in lines):
        return False
    first = lines[0]
    return bool(qp.SIGNATURE_DELIMITER.match(first) or first.startswith("--") or qp.MOBILE_FOOTER.match(first)
                or qp.CLOSING.match(first) or qp.DASH_NAME.match(first))


def equal_up_to_signoff(result: str, expected: str, squash: Callable[[str], str] = fold) -> bool:
    if squash(result) == squash(expected):
        return True
    if not result.strip():
        return False
    # Find where the result ends inside the expected text and check the rest is a sign-off.
    lines = expected.replace("\r\n", "\n").split("\n")
    for cut in range(len(lines) - 1, 0, -1):
        if squash("\n".join(lines[:cut])) == squash(result):
            return is_signoff_tail("\n".join(lines[cut:]))
    return False


def verdict(fixture: Fixture, result: str, seconds: float) -> bool | None:
    """True/False, or None when the expectation is not scorable here."""
    check = fixture.check
    kind = check.get("kind")
    expected = check.get("reply", "")
    if any(fold(p) in fold(result) for p in check.get("not_contains", [])):
        return False
    if not all(fold(p) in fold(result) for p in check.get("contains", [])):
        return False
    if check.get("exact") and kind in ("visible", "unchanged"):
        return fold(result) == fold(expected)
    if kind in ("visible", "derived_visible", "unchanged"):
        return equal_up_to_signoff(result, expected)
    if kind in ("first_fragment", "prefix"):
        return fold(result).startswith(fold(expected)) or equal_up_to_signoff(result, expected)
    if kind == "visible_no_whitespace":
        return equal_up_to_signoff(result, expected, squash=lambda s: re.sub(r"\s", "", s))
    if kind == "forward_no_top":
        return not result.strip()
    if kind == "performance":
        return seconds <= float(check.get("max_seconds", 1))
    if kind == "contains":
        return True
    return None


def threadline(text: str, html: str | None, sender: str = "") -> str:
    return extract_reply(text, html, sender_name=sender)


def mail_parser_reply(text: str, html: str | None, sender: str = "") -> str:
    from mailparser_reply import EmailReplyParser

    languages = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "ja", "cs", "fi", "ko", "zh", "ru"]
    body = text if text.strip() or not html else html_to_text(html)
    return EmailReplyParser(languages=languages).parse_reply(body) or ""


def email_reply_parser(text: str, html: str | None, sender: str = "") -> str:
    from email_reply_parser import EmailReplyParser

    body = text if text.strip() or not html else html_to_text(html)
    return EmailReplyParser.parse_reply(body) or ""


def own_fixtures(root: Path = OWN_CASES) -> list[Fixture]:
    """The project's own cases: one folder per category, each with a checks.json as the corpus has."""
    fixtures = []
    for folder in sorted(p for p in root.iterdir() if (p / "checks.json").is_file()):
        checks = json.loads((folder / "checks.json").read_text(encoding="utf-8"))
        for rel, check in checks.items():
            key = f"own:{folder.name}/{rel}"
            fixtures.append(Fixture(key, f"own:{folder.name}", folder / rel, "text", check, (key,)))
    return fixtures


def score(name: str, extractor: Extractor, fixtures: list[Fixture], own: list[Fixture]) -> dict:
    result = _score(name, extractor, fixtures)
    mine = _score(f"{name}_own", extractor, own)
    result["own_categories"] = {source.removeprefix("own:"): tally
                                for source, tally in mine["per_source"].items()}
    for category, tally in result["own_categories"].items():
        passed, total = (int(n) for n in tally.split("/"))
        result[f"{category}_accuracy"] = round(passed / total, 4)
    result["own_failures_file"] = mine["failures_file"]
    return result


def _score(name: str, extractor: Extractor, fixtures: list[Fixture]) -> dict:
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    pinned = [0, 0]
    failures = []
    for fixture in fixtures:
        text, html = body_of(fixture)
        started = time.perf_counter()
        try:
            result = extractor(text, html, str(fixture.check.get("sender") or ""))
        except Exception as exc:  # a library crashing on an input is a failure, not a bench crash
            result = f"<crashed: {type(exc).__name__}: {exc}>"
        ok = verdict(fixture, result, time.perf_counter() - started)
        if ok is None:
            continue
        per_source[fixture.source][0] += ok
        per_source[fixture.source][1] += 1
        if fixture.check.get("kind") in PINNED:
            pinned[0] += ok
            pinned[1] += 1
        if not ok:
            failures.append({"fixture": fixture.key, "kind": fixture.check.get("kind"),
                             "expected": fixture.check.get("reply"), "contains": fixture.check.get("contains"),
                             "not_contains": fixture.check.get("not_contains"), "got": result[:2000]})
    passed = sum(p for p, _ in per_source.values())
    total = sum(t for _, t in per_source.values())
    OUT.mkdir(exist_ok=True)
    (OUT / f"reply_failures_{name}.json").write_text(json.dumps(failures, indent=1, ensure_ascii=False))
    return {
        "accuracy": round(passed / total, 4), "passed": passed, "scored": total,
        "pinned_accuracy": round(pinned[0] / max(1, pinned[1]), 4), "pinned_passed": pinned[0],
        "pinned_scored": pinned[1],
        "per_source": {s: f"{p}/{t}" for s, (p, t) in sorted(per_source.items())},
        "failures_file": str((OUT / f"reply_failures_{name}.json").relative_to(OUT.parent.parent)),
    }


def main() -> None:
    root = require_corpus()
    fixtures = list(load_fixtures(root))
    own = own_fixtures()
    report = {
        "corpus": str(root), "distinct_emails": len(fixtures), "own_cases": len(own),
        "scoring_rule": __doc__.split("Scoring rule", 1)[1].strip(),
        "threadline.extract_reply": score("threadline", threadline, fixtures, own),
        "mail-parser-reply (alone)": score("mail_parser_reply", mail_parser_reply, fixtures, own),
        "email-reply-parser (alone)": score("email_reply_parser", email_reply_parser, fixtures, own),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
