"""SOQL evaluation over the org, and the query cursors behind `nextRecordsUrl`.

A query is evaluated once (filter, sort, limit) into a list of ids; pages of
`batch` records are then rendered from it, as a Salesforce query locator
serves the rest of a result set. `query` hides deleted records, `queryAll`
includes them. Locators are kept for the most recent queries only.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.sandbox.salesforce.ids import to18
from threadline.sandbox.salesforce.org import Org, Row
from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.schema import ObjectSchema
from threadline.sandbox.salesforce.soql import Condition, parse
from threadline.sandbox.salesforce.values import render

MAX_LOCATORS = 50


@dataclass
class Cursor:
    object: str
    fields: tuple[str, ...]
    ids: list[str]
    batch: int
    locator: str | None = None


def _comparable(spec_type: str, value: Any) -> Any:
    if spec_type in ("id", "reference") and isinstance(value, str):
        return to18(value)
    if spec_type in ("string", "email", "picklist", "textarea", "phone") and isinstance(value, str):
        return value.lower()   # SOQL string comparison is case-insensitive
    return value


def _matches(row: Row, condition: Condition, spec_type: str, name: str) -> bool:
    left = _comparable(spec_type, row.get(name))
    if condition.op == "IN":
        return left in {_comparable(spec_type, v) for v in condition.value}
    right = _comparable(spec_type, condition.value)
    if condition.op == "=":
        return bool(left == right)
    if condition.op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[condition.op])
    except TypeError as exc:
        raise SfError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid value for field {name}") from exc


def _check_literal(schema: ObjectSchema, condition: Condition) -> None:
    spec = schema.canonical(condition.field)
    values = condition.value if condition.op == "IN" else (condition.value,)
    for value in values:
        if spec.type == "datetime" and value is not None and not isinstance(value, datetime):
            raise SfError(400, "INVALID_FIELD", f"value of filter criterion for field '{spec.name}' must be of "
                          "type dateTime and should not be enclosed in quotes", [spec.name])


class QueryEngine:
    """Runs SOQL against an Org and serves result pages; thread-safe for its locators."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._cursors.clear()

    def run(self, soql: str, *, include_deleted: bool, batch: int) -> tuple[list[str], Cursor]:
        """Evaluate `soql`; returns (canonical field names, a cursor over the matching ids)."""
        query = parse(soql)
        schema = self.org.schema.query_object(query.object)
        fields = tuple(schema.canonical(f).name for f in query.fields)
        for condition in query.where:
            _check_literal(schema, condition)
        rows = [r for r in self.org.rows(schema.name) if include_deleted or not r["IsDeleted"]]
        for condition in query.where:
            spec = schema.canonical(condition.field)
            rows = [r for r in rows if _matches(r, condition, spec.type, spec.name)]
        for name, descending in reversed(query.order):
            spec = schema.canonical(name)
            rows.sort(key=_sort_key(spec.name, spec.type), reverse=descending)
        if query.limit is not None:
            rows = rows[:query.limit]
        return list(fields), Cursor(schema.name, fields, [r["Id"] for r in rows], batch)

    def page(self, cursor: Cursor, offset: int) -> tuple[list[Row], str | None]:
        """Rows `offset .. offset+batch` of a result and the locator for the rest (None when done)."""
        ids = cursor.ids[offset:offset + cursor.batch]
        table = self.org.tables[cursor.object]
        rows = [table[i] for i in ids if i in table]
        if offset + cursor.batch >= len(cursor.ids):
            return rows, None
        with self._lock:
            if cursor.locator is None:
                cursor.locator = f"01g5g{next(self._seq):010d}AAA"
            self._cursors[cursor.locator] = cursor
            self._cursors.move_to_end(cursor.locator)
            while len(self._cursors) > MAX_LOCATORS:
                self._cursors.popitem(last=False)
        return rows, f"{cursor.locator}-{offset + cursor.batch}"

    def resume(self, token: str) -> tuple[Cursor, int]:
        """The cursor and offset named by a `nextRecordsUrl` tail (`01g...-2000`)."""
        locator, _, offset = token.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit():
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return cursor, int(offset)

    @staticmethod
    def render(row: Row, object_name: str, fields: tuple[str, ...], url_base: str) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": object_name,
                                                 "url": f"{url_base}/sobjects/{object_name}/{row['Id']}"}}
        record.update((name, render(row.get(name))) for name in fields)
        return record


def _sort_key(name: str, spec_type: str) -> Callable[[Row], tuple[bool, Any]]:
    """ORDER BY one field: Salesforce sorts nulls first ascending; a (flag, value) key keeps None comparable."""
    return lambda row: (row.get(name) is not None, _comparable(spec_type, row.get(name)))
