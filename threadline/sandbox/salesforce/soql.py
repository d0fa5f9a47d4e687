"""A small SOQL subset, parsed into a `Query`:

    SELECT f1, f2 [, (subquery) ...] FROM Object [WHERE cond [AND cond ...]] [ORDER BY f [ASC|DESC], ...] [LIMIT n]
    cond: field (= | != | < | <= | > | >=) literal  |  field IN (literal, ...)
    field: Name | Relationship.Name (a parent's field); subquery: the same grammar FROM a child relationship
    literal: 'string' | number | true | false | null | 2024-05-01T12:00:00Z | 2024-05-01

Anything else is MALFORMED_QUERY, as Salesforce answers for syntax it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.values import parse_datetime

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str            # = != < <= > >= IN
    value: Any         # a literal, or a tuple of literals for IN


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    object: str
    where: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()    # (field, descending)
    limit: int | None = None
    subqueries: tuple[Query, ...] = ()         # parent-to-child: `object` is the child relationship name


def malformed(detail: str) -> SfError:
    return SfError(400, "MALFORMED_QUERY", detail)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise malformed(f"unexpected token: '{text[pos:pos + 20].strip()}'")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() == words[0]:
            for word in words:
                if self.take()[1].upper() != word:
                    raise malformed(f"expecting '{word}'")
            return True
        return False

    def word(self) -> str:
        kind, value = self.take()
        if kind != "word":
            raise malformed(f"unexpected token: '{value}'")
        return value

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), value[1:-1])
        if kind == "datetime":
            return parse_datetime(value)
        if kind in ("date", "number"):
            return value if kind == "date" else float(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise malformed(f"unexpected token: '{value}'")

    def condition(self) -> Condition:
        name = self.word()
        if self.keyword("IN"):
            if self.take()[1] != "(":
                raise malformed("expecting '(' after IN")
            values = [self.literal()]
            while self.peek()[1] == ",":
                self.take()
                values.append(self.literal())
            if self.take()[1] != ")":
                raise malformed("expecting ')'")
            return Condition(name, "IN", tuple(values))
        kind, op = self.take()
        if kind != "op":
            raise malformed(f"unexpected token: '{op}'")
        return Condition(name, "!=" if op == "<>" else op, self.literal())

    def select_item(self, fields: list[str], subqueries: list[Query]) -> None:
        if self.peek()[1] == "(":
            self.take()
            subqueries.append(self.parse(nested=True))
        else:
            fields.append(self.word())

    def parse(self, *, nested: bool = False) -> Query:
        if not self.keyword("SELECT"):
            raise malformed("unexpected token: expecting SELECT")
        fields: list[str] = []
        subqueries: list[Query] = []
        self.select_item(fields, subqueries)
        while self.peek()[1] == ",":
            self.take()
            self.select_item(fields, subqueries)
        if not self.keyword("FROM"):
            raise malformed("unexpected token: expecting FROM")
        object_name = self.word()
        where: list[Condition] = []
        if self.keyword("WHERE"):
            where.append(self.condition())
            while self.keyword("AND"):
                where.append(self.condition())
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER", "BY"):
            order.append(self._order_item())
            while self.peek()[1] == ",":
                self.take()
                order.append(self._order_item())
        limit = int(self.literal()) if self.keyword("LIMIT") else None
        if nested and self.take()[1] != ")":
            raise malformed("expecting ')' after a subquery")
        if not nested and self.peek()[0] != "end":
            raise malformed(f"unexpected token: '{self.peek()[1]}'")
        if nested and subqueries:
            raise malformed("nesting of semi join sub-selects is not supported")
        return Query(tuple(fields), object_name, tuple(where), tuple(order), limit, tuple(subqueries))

    def _order_item(self) -> tuple[str, bool]:
        name = self.word()
        descending = self.keyword("DESC")
        if not descending:
            self.keyword("ASC")
        return name, descending


def parse(text: str) -> Query:
    """Parse a SOQL statement of the supported subset; SfError(MALFORMED_QUERY) otherwise."""
    return _Parser(text).parse()
