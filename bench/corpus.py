"""Load the shared reply corpus (/work/shared/corpus/replies) for the benchmarks.

The corpus is data from nine public reply-parser test suites; see its README.md.
Each distinct email (by content, per MANIFEST.json `duplicates`) is yielded once,
with the most specific expectation any of its copies states.

Location: $THREADLINE_CORPUS, else ../shared/corpus/replies relative to the repo root.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parent.parent

# Stronger expectations win when copies of one email disagree on what is pinned.
KIND_STRENGTH = {
    "visible": 9, "derived_visible": 8, "unchanged": 7, "first_fragment": 6, "prefix": 5,
    "visible_no_whitespace": 4, "forward_no_top": 4, "contains": 3, "performance": 2, "structure": 1,
}
# Tie-break: sources whose idea of "the reply" is closest to Threadline's (signatures dropped).
SOURCE_PREFERENCE = (
    "email_reply_trimmer", "mail_parser_reply", "zapier_email_reply_parser", "email_reply_parser",
    "willdurand_email_reply_parser", "crisp_email_reply_parser", "talon", "talon_tests", "quotequail",
)

InputForm = Literal["text", "eml", "html"]


@dataclass(frozen=True)
class Fixture:
    """One distinct corpus email and the expectation it is scored against."""

    key: str                          # "source/relative/path"
    source: str
    path: Path
    form: InputForm
    check: Mapping[str, Any]
    copies: tuple[str, ...]           # every key with the same bytes (including `key`)

    def raw(self) -> bytes:
        return self.path.read_bytes()


def corpus_root() -> Path | None:
    """The replies folder, or None when this machine does not have the corpus."""
    configured = os.environ.get("THREADLINE_CORPUS")
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "corpus" / "replies"
    return root if (root / "MANIFEST.json").is_file() else None


def require_corpus() -> Path:
    """The corpus root; prints a note and exits 0 when it is absent (benchmarks are optional)."""
    root = corpus_root()
    if root is None:
        print(json.dumps({"skipped": True, "note": "reply corpus not found: set THREADLINE_CORPUS or "
                          "place it at ../shared/corpus/replies relative to the repo root"}))
        sys.exit(0)
    return root


def _all_checks(root: Path) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    for source in SOURCE_PREFERENCE:
        folder = root / source
        stated = _read_json(folder / "checks.json")
        for rel, reply in _read_json(folder / "expected.json").items():
            stated.setdefault(rel, {"kind": "visible", "reply": reply})
        for rel, check in stated.items():
            checks[f"{source}/{rel}"] = check
    return checks


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _rank(key: str, check: Mapping[str, Any]) -> tuple[int, int]:
    source = key.split("/", 1)[0]
    return (-KIND_STRENGTH.get(check.get("kind", ""), 0), SOURCE_PREFERENCE.index(source))


def _form(key: str, check: Mapping[str, Any]) -> InputForm:
    stated = check.get("input")
    if stated in ("text", "eml", "html"):
        return stated
    if key.endswith(".eml"):
        return "eml"
    if key.endswith(".html") or "/html_replies/" in key:
        return "html"
    return "text"


def load_fixtures(root: Path) -> Iterator[Fixture]:
    """Every distinct email with a stated expectation, each once."""
    checks = _all_checks(root)
    manifest = _read_json(root / "MANIFEST.json")
    group_of: dict[str, tuple[str, ...]] = {}
    for group in manifest.get("duplicates", []):
        for key in group:
            group_of[key] = tuple(group)
    seen: set[str] = set()
    for key in sorted(checks, key=lambda k: _rank(k, checks[k])):
        copies = group_of.get(key, (key,))
        if any(copy in seen for copy in copies):
            continue
        seen.update(copies)
        source, rel = key.split("/", 1)
        check = checks[key]
        yield Fixture(key, source, root / source / rel, _form(key, check), check, copies)


def body_of(fixture: Fixture) -> tuple[str, str | None]:
    """(text, html) as Threadline would see them: .eml go through parse_message."""
    from threadline.sync.mail.message import parse_message

    raw = fixture.raw()
    if fixture.form == "eml":
        message = parse_message(raw)
        return message.text, message.html
    decoded = raw.decode("utf-8", errors="replace")
    return ("", decoded) if fixture.form == "html" else (decoded, None)
