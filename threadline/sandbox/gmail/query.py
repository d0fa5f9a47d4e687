"""A subset of Gmail's search syntax (`q`), compiled to a predicate over stored messages.

Supported: after:/before: (epoch seconds or YYYY/MM/DD), newer_than:/older_than: (Nd, Nm, Ny),
in:/label:, is:, from:/to:/cc:/subject:/rfc822msgid:, bare words (subject and snippet),
negation with `-`, OR groups `{a b}` and `a OR b`, parentheses.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from threadline.sandbox.gmail.errors import invalid

_TOKEN = re.compile(r'\s*(\(|\)|\{|\}|-?[\w.:@/<>+=-]*"[^"]*"|[^\s(){}]+)')
_IN_LABELS = {"inbox": "INBOX", "sent": "SENT", "drafts": "DRAFT", "draft": "DRAFT", "spam": "SPAM",
              "trash": "TRASH", "starred": "STARRED", "important": "IMPORTANT", "unread": "UNREAD",
              "chats": "CHAT", "chat": "CHAT"}
_AGE_UNITS = {"d": 86400, "m": 30 * 86400, "y": 365 * 86400}


class Searchable(Protocol):
    labels: set[str]
    internal_date: int                      # ms since the epoch

    def header(self, name: str) -> str: ...
    def text_for_search(self) -> str: ...


Predicate = Callable[[Searchable], bool]


def compile_query(q: str | None, now: float | None = None) -> Predicate:
    """Compile `q` (None/empty: match everything). Raises GoogleError 400 on syntax it cannot read."""
    tokens = [t for t in _TOKEN.findall(q or "") if t]
    parser = _Parser(tokens, time.time() if now is None else now)
    predicate = parser.conjunction(stop=None)
    if parser.pos != len(tokens):
        raise invalid("Invalid search query.")
    return predicate


class _Parser:
    def __init__(self, tokens: list[str], now: float) -> None:
        self.tokens, self.pos, self.now = tokens, 0, now

    def conjunction(self, stop: str | None) -> Predicate:
        terms: list[Predicate] = []
        while self.pos < len(self.tokens) and self.tokens[self.pos] != stop:
            term = self.term()
            while self._peek() == "OR":
                self.pos += 1
                term = _either(term, self.term())
            terms.append(term)
        return lambda m: all(t(m) for t in terms)

    def term(self) -> Predicate:
        token = self.tokens[self.pos]
        self.pos += 1
        if token in ("(", "{"):
            closing = ")" if token == "(" else "}"
            inner = self.conjunction(closing) if token == "(" else self._any_of(closing)
            self.pos += 1
            return inner
        if token.startswith("-") and len(token) > 1:
            self.pos -= 1
            self.tokens[self.pos] = token[1:]
            positive = self.term()
            return lambda m: not positive(m)
        return _operator(token, self.now)

    def _any_of(self, closing: str) -> Predicate:
        terms: list[Predicate] = []
        while self.pos < len(self.tokens) and self.tokens[self.pos] != closing:
            terms.append(self.term())
        return lambda m: any(t(m) for t in terms)

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None


def _operator(token: str, now: float) -> Predicate:
    name, _, value = token.partition(":")
    value, name = value.strip('"'), name.lower()
    if not _:
        word = token.strip('"').lower()
        return lambda m: word in m.text_for_search().lower()
    if name in ("after", "before"):
        at_ms = _instant(value) * 1000
        return (lambda m: m.internal_date >= at_ms) if name == "after" else (lambda m: m.internal_date < at_ms)
    if name in ("newer_than", "older_than"):
        at_ms = (now - _age(value)) * 1000
        return (lambda m: m.internal_date >= at_ms) if name == "newer_than" else (lambda m: m.internal_date < at_ms)
    if name in ("in", "label", "is"):
        return _label(value)
    if name == "rfc822msgid":
        # An exact match on the Message-ID, with or without its angle brackets.
        wanted = value.strip("<>").lower()
        return lambda m: m.header("message-id").strip().strip("<>").lower() == wanted
    if name in ("from", "to", "cc", "subject"):
        return lambda m: value.lower() in m.header(name).lower()
    raise invalid(f"Invalid search operator: {name}")


def _label(value: str) -> Predicate:
    lowered = value.lower()
    if lowered == "anywhere":
        return lambda m: True
    if lowered == "read":
        return lambda m: "UNREAD" not in m.labels
    label = _IN_LABELS.get(lowered, value)
    return lambda m: label in m.labels or label.upper() in m.labels


def _instant(value: str) -> float:
    if value.isdigit():
        return float(value)
    try:
        return datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise invalid(f"Invalid date in search query: {value}") from exc


def _age(value: str) -> float:
    match = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not match:
        raise invalid(f"Invalid age in search query: {value}")
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


def _either(left: Predicate, right: Predicate) -> Predicate:
    """`left OR right`."""
    return lambda m: left(m) or right(m)
