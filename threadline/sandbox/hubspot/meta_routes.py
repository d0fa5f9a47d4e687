"""Schema, owners and association endpoints: `/crm/v3/properties`, `/crm/v3/owners`, `/crm/v4/objects/.../associations`.

Handlers take (crm, request, body) with the sandbox lock held and return (status, payload).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from threadline.sandbox.hubspot.associations import DEFAULT_TYPES, type_label
from threadline.sandbox.hubspot.crm import Crm
from threadline.sandbox.hubspot.responses import ApiError, batch_envelope, now_iso

Result = tuple[int, Any]
MAX_ASSOCIATIONS_PAGE = 500
MAX_BATCH_READ = 1000


def _object_type(crm: Crm, request: Request) -> str:
    object_type = request.path_params["object_type"]
    crm.table(object_type)  # 400 for an unknown type
    return object_type


def list_properties(crm: Crm, request: Request, body: Any) -> Result:
    return 200, {"results": list(crm.schema.properties[_object_type(crm, request)].values())}


def get_property(crm: Crm, request: Request, body: Any) -> Result:
    name = request.path_params["name"]
    prop = crm.schema.properties[_object_type(crm, request)].get(name)
    if prop is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
    return 200, prop


def create_property(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    return 201, crm.schema.create(_object_type(crm, request), body or {})


def list_groups(crm: Crm, request: Request, body: Any) -> Result:
    return 200, {"results": list(crm.schema.groups[_object_type(crm, request)].values())}


def get_group(crm: Crm, request: Request, body: Any) -> Result:
    name = request.path_params["name"]
    group = crm.schema.groups[_object_type(crm, request)].get(name)
    if group is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}")
    return 200, group


def create_group(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    return 201, crm.schema.create_group(_object_type(crm, request), body or {})


def list_owners(crm: Crm, request: Request, body: Any) -> Result:
    """GET /crm/v3/owners: `email` filter, `limit` (max 500), `after` = index of the next owner;
    `archived=true` lists only deactivated owners, otherwise only active ones (as HubSpot does)."""
    email = request.query_params.get("email")
    limit = min(int(request.query_params.get("limit", 100)), 500)
    after = int(request.query_params.get("after") or 0)
    archived = request.query_params.get("archived", "false").lower() == "true"
    owners = [o for o in crm.owners if (not email or o["email"].lower() == email.lower())
              and bool(o.get("archived")) == archived]
    payload: dict[str, Any] = {"results": owners[after:after + limit]}
    if after + limit < len(owners):
        payload["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
    return 200, payload


def _types(type_ids: list[int]) -> list[dict[str, Any]]:
    """v4 association types of one link: the unlabeled default and any label (Primary), as HubSpot lists them."""
    return [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": type_label(t)} for t in type_ids]


def list_associations(crm: Crm, request: Request, body: Any) -> Result:
    """v4 list: `toObjectId` as a number, association types with category and type id."""
    from_type, to_type = _object_type(crm, request), request.path_params["to_type"]
    crm.table(to_type)
    source = crm.resolve(from_type, request.path_params["object_id"])
    limit = min(int(request.query_params.get("limit", MAX_ASSOCIATIONS_PAGE)), MAX_ASSOCIATIONS_PAGE)
    after = int(request.query_params.get("after") or 0)
    links = [(to_id, types) for to_id, types in crm.associations.targets(from_type, source.id, to_type)
             if crm.table(to_type).live(to_id) is not None]
    page = [{"toObjectId": to_id, "associationTypes": _types(types)} for to_id, types in links[after:after + limit]]
    payload: dict[str, Any] = {"results": page}
    if after + limit < len(links):
        payload["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
    return 200, payload


def create_default_association(crm: Crm, request: Request, body: Any) -> Result:
    started = now_iso()
    from_type, to_type = _object_type(crm, request), request.path_params["to_type"]
    crm.table(to_type)
    source, target = crm.link_default(from_type, request.path_params["object_id"], to_type,
                                      request.path_params["to_id"])
    results = [{"from": {"id": str(a)}, "to": {"id": str(b)},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEFAULT_TYPES[pair]}}
               for a, b, pair in ((source, target, (from_type, to_type)), (target, source, (to_type, from_type)))]
    return 200, {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()}


def batch_read_associations(crm: Crm, request: Request, body: dict[str, Any]) -> Result:
    """v4 batch read: links of many objects at once; an input with no links comes back as an error (207)."""
    started = now_iso()
    from_type, to_type = _object_type(crm, request), request.path_params["to_type"]
    crm.table(to_type)
    inputs = (body or {}).get("inputs") or []
    if len(inputs) > MAX_BATCH_READ:
        raise ApiError(400, "VALIDATION_ERROR", f"Batch input must not exceed {MAX_BATCH_READ} inputs")
    results, empty = [], []
    for item in inputs:
        source = crm.table(from_type).live(int(item["id"])) if str(item.get("id", "")).isdigit() else None
        links = [] if source is None else [(to_id, types) for to_id, types in
                                           crm.associations.targets(from_type, source.id, to_type)
                                           if crm.table(to_type).live(to_id) is not None]
        if source is None or not links:
            empty.append(str(item.get("id")))
            continue
        results.append({"from": {"id": str(source.id)}, "to": [
            {"toObjectId": to_id, "associationTypes": _types(types)} for to_id, types in links]})
    errors = [ApiError(404, "OBJECT_NOT_FOUND", f"No {to_type} associations found for {from_type} {i}",
                       context={"fromObjectId": [i]}) for i in empty]
    return batch_envelope(results, errors, started)


PROPS = "/crm/v3/properties/{object_type}"
ASSOC = "/crm/v4/objects/{object_type}/{object_id}/associations"
ROUTES = [
    ("GET", PROPS + "/groups", list_groups, "properties/groups"),
    ("POST", PROPS + "/groups", create_group, "properties/groups/create"),
    ("GET", PROPS + "/groups/{name}", get_group, "properties/groups/get"),
    ("GET", PROPS, list_properties, "properties"),
    ("POST", PROPS, create_property, "properties/create"),
    ("GET", PROPS + "/{name}", get_property, "properties/get"),
    ("GET", "/crm/v3/owners", list_owners, "owners"),
    ("GET", "/crm/v3/owners/", list_owners, "owners"),
    ("PUT", ASSOC + "/default/{to_type}/{to_id}", create_default_association, "associations/default"),
    ("GET", ASSOC + "/{to_type}", list_associations, "associations"),
    ("POST", "/crm/v4/associations/{object_type}/{to_type}/batch/read", batch_read_associations,
     "associations/batch/read"),
]
