"""sObject resources: describe, get/create/update/delete by id, upsert and get by external id,
and the replication calls getUpdated / getDeleted (`/updated/?start=&end=`, `/deleted/...`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from threadline.sandbox.salesforce.calls import Call, RouteTable
from threadline.sandbox.salesforce.ids import object_type_of, to18
from threadline.sandbox.salesforce.query_engine import QueryEngine
from threadline.sandbox.salesforce.responses import SfError, sf_datetime
from threadline.sandbox.salesforce.values import now, parse_datetime

OBJ = "([A-Za-z_]+)"
SEG = "([^/]+)"


def _body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return call.body


def describe_global(call: Call) -> tuple[int, Any]:
    return 200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
        {"name": s.name, "label": s.name, "keyPrefix": s.describe(call.url_base)["keyPrefix"], "queryable": True,
         "urls": {"sobject": f"{call.url_base}/sobjects/{s.name}"}} for s in call.org.schema.objects.values()]}


def describe(call: Call) -> tuple[int, Any]:
    return 200, call.org.schema.object(call.groups[0]).describe(call.url_base)


def create(call: Call) -> tuple[int, Any]:
    record_id = call.org.create(call.groups[0], _body(call))
    return 201, {"id": record_id, "success": True, "errors": []}


def get(call: Call) -> tuple[int, Any]:
    object_name, record_id = call.groups
    schema = call.org.schema.object(object_name)
    if object_type_of(to18(record_id)) != schema.name:
        raise SfError(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "
                      f"{record_id}")
    row = call.org.row(schema.name, record_id)
    wanted = call.params.get("fields")
    names = tuple(schema.canonical(f.strip()).name for f in wanted.split(",")) if wanted else tuple(
        s.name for s in schema.fields.values())
    return 200, QueryEngine.render(row, schema.name, names, call.url_base)


def update(call: Call) -> tuple[int, Any]:
    call.org.update(call.groups[0], call.groups[1], _body(call))
    return 204, None


def delete(call: Call) -> tuple[int, Any]:
    call.org.delete(call.groups[0], call.groups[1])
    return 204, None


def upsert(call: Call) -> tuple[int, Any]:
    object_name, field_name, value = call.groups
    record_id, created = call.org.upsert(object_name, field_name, unquote(value), _body(call))
    # API 46.0+: 201 with created=true for an insert, 200 with created=false for an update
    return (201 if created else 200), {"id": record_id, "success": True, "errors": [], "created": created}


def get_by_external_id(call: Call) -> tuple[int, Any]:
    object_name, field_name, value = call.groups
    matches = call.org.find_by(object_name, field_name, unquote(value))
    if not matches:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
    schema = call.org.schema.object(object_name)
    return 200, QueryEngine.render(matches[0], schema.name, tuple(s.name for s in schema.fields.values()),
                                   call.url_base)


def _window(call: Call) -> tuple[Any, Any]:
    try:
        # an unencoded "+hh:mm" offset arrives as a space after form decoding
        start = parse_datetime(unquote(call.params["start"]).replace(" ", "+"))
        end = parse_datetime(unquote(call.params["end"]).replace(" ", "+"))
    except (KeyError, ValueError) as exc:
        raise SfError(400, "MALFORMED_QUERY", "start and end must be ISO 8601 dateTimes") from exc
    earliest = now() - timedelta(days=call.settings.salesforce_replication_days)
    if start < earliest:
        raise SfError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than "
                      f"{call.settings.salesforce_replication_days} days ago")
    if end <= start:
        raise SfError(400, "INVALID_REPLICATION_DATE", "endDate must chronologically follow the startDate")
    return start, min(end, now())


def updated(call: Call) -> tuple[int, Any]:
    start, end = _window(call)
    rows = call.org.rows(call.groups[0])
    ids = [r["Id"] for r in rows if not r["IsDeleted"] and start <= r["SystemModstamp"] < end]
    return 200, {"ids": ids, "latestDateCovered": sf_datetime(end)}


def deleted(call: Call) -> tuple[int, Any]:
    start, end = _window(call)
    found = [(r["Id"], call.org.deleted_at[r["Id"]]) for r in call.org.rows(call.groups[0])
             if r["IsDeleted"] and start <= call.org.deleted_at[r["Id"]] < end]
    return 200, {"deletedRecords": [{"id": i, "deletedDate": sf_datetime(at)} for i, at in found],
                 "earliestDateAvailable": sf_datetime(now() - timedelta(days=call.settings.salesforce_replication_days)),
                 "latestDateCovered": sf_datetime(end)}


def register(table: RouteTable) -> None:
    table.add("GET", "/sobjects", describe_global)
    table.add("GET", f"/sobjects/{OBJ}/describe", describe)
    table.add("GET", f"/sobjects/{OBJ}/updated", updated)
    table.add("GET", f"/sobjects/{OBJ}/deleted", deleted)
    table.add("POST", f"/sobjects/{OBJ}", create)
    table.add("GET", f"/sobjects/{OBJ}/{SEG}", get)
    table.add("PATCH", f"/sobjects/{OBJ}/{SEG}", update)
    table.add("DELETE", f"/sobjects/{OBJ}/{SEG}", delete)
    table.add("PATCH", f"/sobjects/{OBJ}/{SEG}/{SEG}", upsert)
    table.add("GET", f"/sobjects/{OBJ}/{SEG}/{SEG}", get_by_external_id)
