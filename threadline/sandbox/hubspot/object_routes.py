"""CRM object endpoints, the same for contacts, emails and tasks (`/crm/v3/objects/{objectType}/...`).

Each handler takes (crm, request, body) with the sandbox lock held and returns
(status, JSON payload); the sandbox wraps them with auth, limits and stats.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from threadline.sandbox.hubspot.crm import SINGULAR, Crm, not_found
from threadline.sandbox.hubspot.responses import ApiError, batch_envelope, now_iso
from threadline.sandbox.hubspot.search import parse_search, run_search

MAX_BATCH = 100
MAX_LIST = 100
Result = tuple[int, Any]


def _names(request: Request, body: dict[str, Any] | None = None) -> list[str]:
    if body is not None:
        return list(body.get("properties") or [])
    return [n for v in request.query_params.getlist("properties") for n in v.split(",") if n]


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ApiError(400, "VALIDATION_ERROR", "inputs must be a non-empty list")
    if len(inputs) > MAX_BATCH:
        raise ApiError(400, "VALIDATION_ERROR", f"Batch input must not exceed {MAX_BATCH} inputs, got {len(inputs)}")
    return inputs


def list_objects(crm: Crm, request: Request, body: Any) -> Result:
    object_type = request.path_params["object_type"]
    table = crm.table(object_type)
    limit = int(request.query_params.get("limit", 10))
    if limit < 1 or limit > MAX_LIST:
        raise ApiError(400, "VALIDATION_ERROR", f"limit must be between 1 and {MAX_LIST}")
    after = int(request.query_params.get("after") or 0)
    archived = request.query_params.get("archived", "false") == "true"
    names = _names(request)
    page: list[dict[str, Any]] = []
    for object_id in table.ids_from(after):
        obj = table.objects[object_id]
        if obj.archived == archived and obj.merged_into is None:
            if len(page) == limit:
                return 200, {"results": page, "paging": {"next": {"after": str(object_id),
                                                                  "link": f"?after={object_id}"}}}
            page.append(obj.to_json(names))
    return 200, {"results": page}


def get_object(crm: Crm, request: Request, body: Any) -> Result:
    object_type = request.path_params["object_type"]
    ref = request.path_params["object_id"]
    obj = crm.resolve(object_type, ref, request.query_params.get("idProperty"))
    return 200, obj.to_json(_names(request))


def create_object(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    obj = crm.create(request.path_params["object_type"], body.get("properties") or {}, body.get("associations"))
    return 201, obj.to_json(list((body.get("properties") or {}).keys()))


def update_object(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    obj = crm.update(request.path_params["object_type"], request.path_params["object_id"],
                     body.get("properties") or {}, request.query_params.get("idProperty"))
    return 200, obj.to_json(list((body.get("properties") or {}).keys()))


def archive_object(crm: Crm, request: Request, body: Any) -> Result:
    crm.archive(request.path_params["object_type"], request.path_params["object_id"])
    return 204, None


def search_objects(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    query = parse_search(body or {})
    total, page, next_after = run_search(crm.table(request.path_params["object_type"]), query,
                                         crm.settings.hubspot_search_result_cap)
    payload: dict[str, Any] = {"total": total, "results": [o.to_json(query.properties) for o in page]}
    if next_after is not None:
        payload["paging"] = {"next": {"after": str(next_after), "link": f"?after={next_after}"}}
    return 200, payload


def batch_read(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    object_type, started = request.path_params["object_type"], now_iso()
    names, id_property = _names(request, body), body.get("idProperty")
    results, missing = [], []
    for item in _inputs(body):
        try:
            results.append(crm.resolve(object_type, str(item.get("id")), id_property).to_json(names))
        except ApiError:
            missing.append(str(item.get("id")))
    errors = [ApiError(404, "OBJECT_NOT_FOUND", f"Could not get some {SINGULAR[object_type]} objects, they may be "
                       "deleted or not exist. Check that ids are valid.", context={"ids": missing})] if missing else []
    return batch_envelope(results, errors, started)


def batch_create(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    """201 when all inputs were created; 207 with per-input errors when some failed; 400 when all did."""
    object_type, started = request.path_params["object_type"], now_iso()
    if object_type == "contacts":
        refuse_existing_emails(crm, _inputs(body))
    results, errors = [], []
    for item in _inputs(body):
        trace = item.get("objectWriteTraceId")
        try:
            obj = crm.create(object_type, item.get("properties") or {}, item.get("associations"),
                             write_trace_id=trace)
            results.append(obj.to_json(list((item.get("properties") or {}).keys())))
        except ApiError as exc:
            if trace:
                exc.context = {**(exc.context or {}), "objectWriteTraceId": [str(trace)]}
            errors.append(exc)
    if errors and not results:
        raise errors[0]
    status, payload = batch_envelope(results, errors, started)
    return (201 if status == 200 else status), payload


def refuse_existing_emails(crm: Crm, inputs: list[dict[str, Any]]) -> None:
    """HubSpot refuses a whole contacts batch/create holding an address it has (409 CONFLICT naming the first
    existing id only; nothing in the batch is created), as its own contact create does."""
    table = crm.table("contacts")
    for item in inputs:
        email = str((item.get("properties") or {}).get("email") or "").lower()
        if email and email in table.by_email:
            raise ApiError(409, "CONFLICT", f"Contact already exists. Existing ID: {table.by_email[email]}")


def batch_update(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    object_type, started = request.path_params["object_type"], now_iso()
    results, errors = [], []
    for item in _inputs(body):
        try:
            obj = crm.update(object_type, str(item.get("id")), item.get("properties") or {}, item.get("idProperty"))
            results.append(obj.to_json(list((item.get("properties") or {}).keys())))
        except ApiError as exc:
            errors.append(exc)
    if errors and not results:
        raise errors[0]
    return batch_envelope(results, errors, started)


def batch_upsert(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    """Create-or-update by a unique `idProperty` (contacts: email); results carry `new`."""
    object_type, started = request.path_params["object_type"], now_iso()
    results = []
    for item in _inputs(body):
        id_property, ref = item.get("idProperty") or "hs_object_id", str(item.get("id"))
        props = dict(item.get("properties") or {})
        try:
            obj, new = crm.update(object_type, ref, props, id_property), False
        except ApiError as exc:
            if exc.status != 404:
                raise
            if id_property == "email":
                props["email"] = ref
            obj, new = crm.create(object_type, props), True
        results.append({**obj.to_json(list(props)), "new": new})
    return batch_envelope(results, [], started)


def batch_archive(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    for item in _inputs(body):
        crm.archive(request.path_params["object_type"], str(item.get("id")))
    return 204, None


def merge_contacts(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    try:
        winner, loser = int(body["primaryObjectId"]), int(body["objectIdToMerge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge are required") from exc
    if crm.table("contacts").live(loser) is None:
        raise not_found("contacts", str(loser))
    return 200, crm.merge(winner, loser).to_json()


OBJECT = "/crm/v3/objects/{object_type}"
ROUTES = [
    ("POST", "/crm/v3/objects/contacts/merge", merge_contacts, "merge"),
    ("POST", OBJECT + "/search", search_objects, "search"),
    ("POST", OBJECT + "/batch/read", batch_read, "batch/read"),
    ("POST", OBJECT + "/batch/create", batch_create, "batch/create"),
    ("POST", OBJECT + "/batch/update", batch_update, "batch/update"),
    ("POST", OBJECT + "/batch/upsert", batch_upsert, "batch/upsert"),
    ("POST", OBJECT + "/batch/archive", batch_archive, "batch/archive"),
    ("GET", OBJECT, list_objects, "list"),
    ("POST", OBJECT, create_object, "create"),
    ("GET", OBJECT + "/{object_id}", get_object, "get"),
    ("PATCH", OBJECT + "/{object_id}", update_object, "update"),
    ("DELETE", OBJECT + "/{object_id}", archive_object, "archive"),
]
