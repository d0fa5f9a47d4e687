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
from threadline.sandbox.salesforce.relationships import FieldPath, child_relationship, render_path, resolve
from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.soql import Condition, Query, parse
from threadline.sandbox.salesforce.values import render

MAX_LOCATORS = 50


@dataclass(frozen=True)
class Children:
    """A parent-to-child subquery, ready to run per parent row."""

    relationship: str
    object: str
    lookup: str                      # the child's field that points at the parent
    paths: tuple[FieldPath, ...]
    query: Query


@dataclass
class Cursor:
    object: str
    fields: tuple[str, ...]
    ids: list[str]
    batch: int
    locator: str | None = None
    paths: tuple[FieldPath, ...] = ()
    children: tuple[Children, ...] = ()


def _comparable(spec_type: str, value: Any) -> Any:
    if spec_type in ("id", "reference") and isinstance(value, str):
        return to18(value)
    if spec_type in ("string", "email", "picklist", "textarea", "phone") and isinstance(value, str):
        return value.lower()   # SOQL string comparison is case-insensitive
    return value


def _matches(left: Any, condition: Condition, spec_type: str, name: str) -> bool:
    left = _comparable(spec_type, left)
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


def _check_literal(path: FieldPath, condition: Condition) -> None:
    spec = path.spec
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
        paths = tuple(resolve(self.org, schema.name, f) for f in query.fields)
        children = tuple(self._children(schema.name, sub) for sub in query.subqueries)
        rows = [r for r in self.org.rows(schema.name) if include_deleted or not r["IsDeleted"]]
        rows = self._select(schema.name, rows, query)
        fields = tuple(p.name for p in paths)
        return list(fields), Cursor(schema.name, fields, [r["Id"] for r in rows], batch, paths=paths,
                                    children=children)

    def _select(self, object_name: str, rows: list[Row], query: Query) -> list[Row]:
        """WHERE, ORDER BY and LIMIT of `query` over `rows` of `object_name` (fields may be parent paths)."""
        for condition in query.where:
            path = resolve(self.org, object_name, condition.field)
            _check_literal(path, condition)
            rows = [r for r in rows if _matches(path.value(self.org, r), condition, path.spec.type, path.name)]
        for name, descending in reversed(query.order):
            path = resolve(self.org, object_name, name)
            rows.sort(key=_sort_key(self._reader(path), path.spec.type), reverse=descending)
        return rows if query.limit is None else rows[:query.limit]

    def _reader(self, path: FieldPath) -> Callable[[Row], Any]:
        return lambda row: path.value(self.org, row)

    def _children(self, parent: str, sub: Query) -> Children:
        relationship, child, lookup = child_relationship(parent, sub.object)
        paths = tuple(resolve(self.org, child, f) for f in sub.fields)
        for condition in sub.where:   # an unknown field fails the whole query, as Salesforce parses first
            _check_literal(resolve(self.org, child, condition.field), condition)
        return Children(relationship, child, lookup, paths, sub)

    def render_row(self, row: Row, cursor: Cursor, url_base: str) -> dict[str, Any]:
        """One result record: its fields, parents nested under their relationship, each subquery's children
        as a query result (null when there are none)."""
        record = self.render(row, cursor.object, (), url_base)
        for path in cursor.paths:
            render_path(self.org, row, path, record, url_base)
        for children in cursor.children:
            rows = [r for r in self.org.rows(children.object)
                    if not r["IsDeleted"] and r.get(children.lookup) == row["Id"]]
            rows = self._select(children.object, rows, children.query)
            records = []
            for child in rows:
                rendered = self.render(child, children.object, (), url_base)
                for path in children.paths:
                    render_path(self.org, child, path, rendered, url_base)
                records.append(rendered)
            record[children.relationship] = ({"totalSize": len(records), "done": True, "records": records}
                                             if records else None)
        return record

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


def _sort_key(value: Callable[[Row], Any], spec_type: str) -> Callable[[Row], tuple[bool, Any]]:
    """ORDER BY one field: Salesforce sorts nulls first ascending; a (flag, value) key keeps None comparable."""
    return lambda row: (value(row) is not None, _comparable(spec_type, value(row)))
