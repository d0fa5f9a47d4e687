"""`GET /query?q=`, `/queryAll?q=` and their `nextRecordsUrl` continuations.

Page size is 2,000 records unless the `Sforce-Query-Options: batchSize=N`
header asks for 200..2,000 (Salesforce treats the size as a hint; so do we).
"""

from __future__ import annotations

from typing import Any

from threadline.sandbox.salesforce.calls import Call, RouteTable
from threadline.sandbox.salesforce.query_engine import Cursor
from threadline.sandbox.salesforce.responses import SfError

MIN_BATCH, MAX_BATCH = 200, 2000


def batch_size(call: Call) -> int:
    default = min(call.settings.salesforce_query_batch_size, MAX_BATCH)
    options = call.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value)))
    return default


def _answer(call: Call, cursor: Cursor, offset: int, endpoint: str) -> tuple[int, Any]:
    rows, rest = call.engine.page(cursor, offset)
    body: dict[str, Any] = {
        "totalSize": len(cursor.ids), "done": rest is None,
        "records": [call.engine.render_row(r, cursor, call.url_base) for r in rows]}
    if rest is not None:
        body["nextRecordsUrl"] = f"{call.url_base}/{endpoint}/{rest}"
    return 200, body


def _query(call: Call, *, include_deleted: bool) -> tuple[int, Any]:
    soql = call.params.get("q")
    if not soql:
        raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
    _, cursor = call.engine.run(soql, include_deleted=include_deleted, batch=batch_size(call))
    return _answer(call, cursor, 0, "queryAll" if include_deleted else "query")


def query(call: Call) -> tuple[int, Any]:
    return _query(call, include_deleted=False)


def query_all(call: Call) -> tuple[int, Any]:
    return _query(call, include_deleted=True)


def query_more(call: Call) -> tuple[int, Any]:
    endpoint, token = call.groups
    cursor, offset = call.engine.resume(token)
    return _answer(call, cursor, offset, endpoint)


def register(table: RouteTable) -> None:
    table.add("GET", "/query", query)
    table.add("GET", "/queryAll", query_all)
    table.add("GET", "/(query|queryAll)/([A-Za-z0-9]+-\\d+)", query_more)
