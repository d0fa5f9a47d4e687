"""CRM search: parse a search request, find matches, page them like HubSpot.

Filter groups are ORed, filters in a group ANDed. Results stop at a cap
(10,000 by default): HubSpot answers 400 to any page that starts past it, which
is why incremental pulls must re-anchor their filter instead of paging on.

A query whose filters all bound the (modified date, id) key and whose sort is
the modified date (or the id within one modified date) is answered from the
sorted index in O(log n + page); anything else scans the live objects.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from threadline.sandbox.hubspot.records import HubObject, modified_property, parse_ms
from threadline.sandbox.hubspot.responses import ApiError
from threadline.sandbox.hubspot.table import ID_MAX, ObjectTable

OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
_TOKEN_SPLIT = re.compile(r"[\s;,]+")


@dataclass(frozen=True)
class Filter:
    prop: str
    op: str
    value: str | None = None
    values: tuple[str, ...] = ()
    high: str | None = None


@dataclass
class SearchQuery:
    groups: list[list[Filter]]
    sort_prop: str | None = None
    descending: bool = False
    limit: int = 10
    offset: int = 0
    properties: list[str] = field(default_factory=list)


def _bad(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


def parse_search(body: dict[str, Any]) -> SearchQuery:
    """Validate a search body as HubSpot does (limit <= 200, known operators, group sizes)."""
    groups = [[_parse_filter(raw) for raw in group.get("filters", [])] for group in body.get("filterGroups") or []]
    if len(groups) > MAX_GROUPS or any(len(group) > MAX_FILTERS_PER_GROUP for group in groups):
        raise _bad(f"Too many filter groups or filters (max {MAX_GROUPS} groups of {MAX_FILTERS_PER_GROUP}).")
    limit = int(body.get("limit") or 10)
    if limit < 1 or limit > MAX_LIMIT:
        raise _bad(f"limit must be between 1 and {MAX_LIMIT}, was {limit}")
    try:
        offset = int(body.get("after") or 0)
    except ValueError as exc:
        raise _bad(f"Invalid after value: {body.get('after')}") from exc
    query = SearchQuery(groups=groups, limit=limit, offset=offset, properties=list(body.get("properties") or []))
    sorts = body.get("sorts") or []
    if sorts:
        first = sorts[0]
        if isinstance(first, str):  # the SDK's model types sorts as strings: "prop" or "-prop"
            query.sort_prop, query.descending = first.lstrip("-"), first.startswith("-")
        else:
            query.sort_prop = first.get("propertyName")
            query.descending = str(first.get("direction", "ASCENDING")).upper().startswith("DESC")
    return query


def _parse_filter(raw: dict[str, Any]) -> Filter:
    op = str(raw.get("operator", "EQ")).upper()
    if op not in OPERATORS or not raw.get("propertyName"):
        raise _bad(f"Invalid filter: operator {op!r} on {raw.get('propertyName')!r}")
    values = tuple(str(v) for v in raw.get("values") or ())
    value = raw.get("value")
    return Filter(raw["propertyName"], op, None if value is None else str(value), values,
                  None if raw.get("highValue") is None else str(raw["highValue"]))


def run_search(table: ObjectTable, query: SearchQuery, cap: int) -> tuple[int, list[HubObject], int | None]:
    """(total, page of objects, next offset or None). Raises 400 for a page starting at/after the cap."""
    if query.offset >= cap:
        raise _bad(f"Search results are limited to {cap} records; page past them is not allowed "
                   f"(after={query.offset}). Narrow the filters instead.")
    by_id = _id_bounds(query)
    if by_id is not None:
        total, objects = table.id_range(*by_id, descending=query.descending)
        end = min(query.offset + query.limit, total, cap)
        page = list(islice(objects, query.offset, end))
        return total, page, end if end < total else None
    indexed = _index_range(table, query)
    if indexed is not None:
        start, stop = indexed
        total = stop - start
        end = min(query.offset + query.limit, total, cap)
        positions = range(start + query.offset, start + end)
        if query.descending:
            positions = range(stop - 1 - query.offset, stop - 1 - end, -1)
        page = [table.at(p) for p in positions]
    else:
        matches = _scan(table, query)
        total = len(matches)
        end = min(query.offset + query.limit, total, cap)
        page = matches[query.offset:end]
    return total, page, end if end < total else None


def _index_range(table: ObjectTable, query: SearchQuery) -> tuple[int, int] | None:
    """Positions in the modified index that answer the query exactly, or None if it needs a scan."""
    if len(query.groups) > 1:
        return None
    mod = modified_property(table.object_type)
    low_ms, high_ms, low_id, high_id = -(1 << 62), 1 << 62, -1, ID_MAX
    for flt in query.groups[0] if query.groups else []:
        bounds = _bounds(flt)
        if bounds is None or flt.prop not in (mod, "hs_object_id"):
            return None
        low, high = bounds
        if flt.prop == mod:
            low_ms, high_ms = max(low_ms, low), min(high_ms, high)
        else:
            low_id, high_id = max(low_id, low), min(high_id, high)
    one_instant = low_ms == high_ms
    if (low_id, high_id) != (-1, ID_MAX) and not one_instant:
        return None
    if query.sort_prop not in (mod, None) and not (query.sort_prop == "hs_object_id" and one_instant):
        return None
    if query.sort_prop is None and not one_instant and query.groups and query.groups[0]:
        return None  # unsorted HubSpot order is by id; only equal to ours within one instant
    if query.sort_prop is None and not query.groups:
        return None
    if low_ms > high_ms or low_id > high_id:
        return 0, 0
    if one_instant:
        return table.modified_slice((low_ms, low_id), (low_ms, high_id))
    return table.modified_slice((low_ms, -1), (high_ms, ID_MAX))


def _id_bounds(query: SearchQuery) -> tuple[int, int] | None:
    """Inclusive id bounds when the query filters (if at all) and sorts on `hs_object_id` alone, else None."""
    if len(query.groups) > 1 or query.sort_prop != "hs_object_id":
        return None
    low, high = 0, ID_MAX
    for flt in query.groups[0] if query.groups else []:
        bounds = _bounds(flt) if flt.prop == "hs_object_id" else None
        if bounds is None:
            return None
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return low, high


def _bounds(flt: Filter) -> tuple[int, int] | None:
    """Inclusive integer bounds for a range filter on a date/number, or None."""
    number = parse_ms(flt.value)
    if number is None:
        return None
    return {"EQ": (number, number), "GT": (number + 1, 1 << 62), "GTE": (number, 1 << 62),
            "LT": (-(1 << 62), number - 1), "LTE": (-(1 << 62), number)}.get(flt.op)


def _scan(table: ObjectTable, query: SearchQuery) -> list[HubObject]:
    matches = [obj for obj in table.live_objects()
               if not query.groups or any(all(matches_filter(obj, f) for f in group) for group in query.groups)]
    if query.sort_prop:
        prop = query.sort_prop
        present = [o for o in matches if o.value(prop) not in (None, "")]
        absent = sorted((o for o in matches if o.value(prop) in (None, "")), key=lambda o: o.id)
        present.sort(key=lambda o: (_comparable(o.value(prop)), o.id), reverse=query.descending)
        return present + absent
    return sorted(matches, key=lambda o: o.id)


def _comparable(raw: str | None) -> tuple[int, Any]:
    """Numbers and dates compare as numbers, everything else as case-folded text."""
    text = "" if raw is None else str(raw)
    try:
        return 0, float(text)
    except ValueError:
        pass
    ms = parse_ms(text) if "T" in text or "-" in text else None
    return (0, float(ms)) if ms is not None else (1, text.casefold())


def matches_filter(obj: HubObject, flt: Filter) -> bool:
    """One filter against one object, with HubSpot's operator meanings."""
    raw = obj.value(flt.prop)
    has = raw not in (None, "")
    if flt.op == "HAS_PROPERTY":
        return has
    if flt.op == "NOT_HAS_PROPERTY":
        return not has
    if flt.op in ("IN", "NOT_IN"):
        inside = has and str(raw).casefold() in {v.casefold() for v in flt.values}
        return inside if flt.op == "IN" else not inside
    if flt.op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        found = has and _contains_token(str(raw), flt.value or "")
        return found if flt.op == "CONTAINS_TOKEN" else not found
    if flt.op == "NEQ":
        return not has or _comparable(raw) != _comparable(flt.value)
    if not has:
        return False
    left, right = _comparable(raw), _comparable(flt.value)
    if left[0] != right[0]:
        return False
    if flt.op == "BETWEEN":
        return right <= left <= _comparable(flt.high)
    return {"EQ": left == right, "GT": left > right, "GTE": left >= right,
            "LT": left < right, "LTE": left <= right}[flt.op]


def _contains_token(text: str, token: str) -> bool:
    token = token.casefold()
    words = [w for w in _TOKEN_SPLIT.split(text.casefold()) if w]
    pieces = words + [part for w in words for part in w.split("@")]
    if "*" in token:
        return any(fnmatch.fnmatchcase(p, token) for p in pieces)
    return token in pieces
