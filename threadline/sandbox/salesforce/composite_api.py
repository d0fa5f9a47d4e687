"""sObject Collections (`/composite/sobjects`, up to 200 records) and Composite (`/composite`,
up to 25 subrequests run through the same handlers, with `@{ref.field}` references).

Collections answer 200 with one result per record, in order. With `allOrNone`
a failure rolls every record of the call back and the others report
ALL_OR_NONE_OPERATION_ROLLED_BACK. Each call counts once against the daily limit.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from threadline.sandbox.salesforce.calls import Call, RouteTable, check_version
from threadline.sandbox.salesforce.ids import object_type_of
from threadline.sandbox.salesforce.responses import SfError

MAX_RECORDS = 200
MAX_SUBREQUESTS = 25
_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([A-Za-z0-9_.\[\]]+)\}")
ROLLED_BACK = SfError(400, "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                      "Record rolled back because not all records were valid and the request was using AllOrNone "
                      "header")


def _records(call: Call) -> tuple[list[dict[str, Any]], bool]:
    body = call.body if isinstance(call.body, dict) else {}
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise SfError(400, "INVALID_FIELD", "No records to process: 'records' is required")
    if len(records) > MAX_RECORDS:
        raise SfError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} "
                      "records into this call")
    return records, bool(body.get("allOrNone"))


def _object_of(record: dict[str, Any]) -> str:
    kind = (record.get("attributes") or {}).get("type")
    if not kind:
        raise SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    return str(kind)


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}


def _run(call: Call, records: list[dict[str, Any]], all_or_none: bool, one: Any) -> tuple[int, Any]:
    for record in records:   # an unknown field fails the whole request (Salesforce's JSON binding)
        schema = call.org.schema.object(_object_of(record))
        for name in _fields(record):
            schema.canonical(name)
    undo: list[Any] = []
    results: list[dict[str, Any]] = []
    failed = False
    for record in records:
        try:
            record_id, revert = one(record)
            undo.append(revert)
            results.append({"id": record_id, "success": True, "errors": []})
        except SfError as exc:
            failed = True
            results.append({"success": False, "errors": [exc.result_error()]})
    if failed and all_or_none:
        for revert in reversed(undo):
            revert()
        results = [r if not r["success"] else {"id": r["id"], "success": False, "errors": [ROLLED_BACK.result_error()]}
                   for r in results]
    return 200, results


def create_many(call: Call) -> tuple[int, Any]:
    records, all_or_none = _records(call)

    def one(record: dict[str, Any]) -> tuple[str, Any]:
        kind = _object_of(record)
        if record.get("id") or record.get("Id"):
            raise SfError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        record_id = call.org.create(kind, _fields(record))
        table = call.org.tables[call.org.schema.object(kind).name]
        return record_id, lambda: table.pop(record_id, None)
    return _run(call, records, all_or_none, one)


def update_many(call: Call) -> tuple[int, Any]:
    records, all_or_none = _records(call)

    def one(record: dict[str, Any]) -> tuple[str, Any]:
        kind = _object_of(record)
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        row = call.org.row(kind, str(record_id))
        before = copy.copy(row)
        call.org.update(kind, row["Id"], _fields(record))

        def undo() -> None:
            row.clear()
            row.update(before)
        return row["Id"], undo
    return _run(call, records, all_or_none, one)


def delete_many(call: Call) -> tuple[int, Any]:
    """DELETE /composite/sobjects?ids=a,b&allOrNone=false: up to 200 records by id, one result each, in order
    (a record already deleted answers ENTITY_IS_DELETED, an unknown id NOT_FOUND or MALFORMED_ID)."""
    ids = [i.strip() for i in (call.params.get("ids") or "").split(",") if i.strip()]
    if not ids:
        raise SfError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(ids) > MAX_RECORDS:
        raise SfError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} "
                      "records into this call")
    all_or_none = (call.params.get("allOrNone") or "false").lower() == "true"
    undo: list[Any] = []
    results: list[dict[str, Any]] = []
    for record_id in ids:
        kind = object_type_of(record_id) if len(record_id) in (15, 18) else None
        try:
            if kind is None:
                raise SfError(400, "MALFORMED_ID", f"malformed id {record_id}")
            row = call.org.row(kind, record_id)
            before = copy.copy(row)
            call.org.delete(kind, row["Id"])

            def revert(row: Any = row, before: Any = before) -> None:
                row.clear()
                row.update(before)
                call.org.deleted_at.pop(row["Id"], None)
            undo.append(revert)
            results.append({"id": row["Id"], "success": True, "errors": []})
        except SfError as exc:
            results.append({"success": False, "errors": [exc.result_error()]})
    if all_or_none and any(not r["success"] for r in results):
        for step in reversed(undo):
            step()
        results = [r if not r["success"] else {"id": r["id"], "success": False, "errors": [ROLLED_BACK.result_error()]}
                   for r in results]
    return 200, results


def _resolve(value: Any, answers: dict[str, Any]) -> Any:
    def lookup(match: re.Match[str]) -> str:
        ref, path = match.group(1), match.group(2)
        if ref not in answers:
            raise SfError(400, "INVALID_REFERENCE", f"reference {ref} is not defined yet")
        found: Any = answers[ref]
        for part in path.split("."):
            found = found[int(part)] if isinstance(found, list) else found[part]
        return str(found)
    if isinstance(value, str):
        return _REF.sub(lookup, value)
    return json.loads(_REF.sub(lookup, json.dumps(value))) if value is not None else None


def composite(call: Call, table: RouteTable) -> tuple[int, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    subrequests = body.get("compositeRequest") or []
    if not subrequests or len(subrequests) > MAX_SUBREQUESTS:
        raise SfError(400, "INVALID_BATCH_REQUEST", f"a composite request holds 1 to {MAX_SUBREQUESTS} subrequests")
    answers: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    halted = False
    for sub in subrequests:
        ref = sub.get("referenceId", "")
        if halted:
            out.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back "
                                  "since another operation in the same transaction failed."}],
                        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
            continue
        status, payload = _subrequest(call, table, sub, answers)
        answers[ref] = payload
        out.append({"body": payload, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref})
        halted = status >= 400 and bool(body.get("allOrNone"))
    return 200, {"compositeResponse": out}


def _subrequest(call: Call, table: RouteTable, sub: dict[str, Any], answers: dict[str, Any]) -> tuple[int, Any]:
    try:
        url = urlsplit(_resolve(str(sub.get("url", "")), answers))
        prefix = re.match(r"^/services/data/(v[0-9.]+)(/.*)$", url.path)
        if not prefix:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        check_version(prefix.group(1))
        inner = Call(call.org, call.engine, call.settings, str(sub.get("method", "GET")).upper(), prefix.group(1),
                     prefix.group(2), dict(parse_qsl(url.query)), _resolve(sub.get("body"), answers),
                     call.headers, limits=call.limits)
        return table.dispatch(inner)
    except SfError as exc:
        return exc.status, [exc.item()]


def register(table: RouteTable) -> None:
    table.add("POST", "/composite/sobjects", create_many)
    table.add("PATCH", "/composite/sobjects", update_many)
    table.add("DELETE", "/composite/sobjects", delete_many)
    table.add("POST", "/composite", lambda call: composite(call, table))
