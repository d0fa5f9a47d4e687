"""Property definitions and property groups per object type (the CRM's schema).

Writes are validated against these definitions as HubSpot does: an unknown
property name is a VALIDATION_ERROR, so a connector must create its custom
properties (inside an existing group) before it writes them.
"""

from __future__ import annotations

from typing import Any

from threadline.sandbox.hubspot.lifecycle import STAGES
from threadline.sandbox.hubspot.responses import ApiError, now_iso

PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool", "phone_number"}
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate",
             "hs_merged_object_ids", "hs_additional_emails"}

_BUILT_IN: dict[str, tuple[str, dict[str, str]]] = {
    "contacts": ("contactinformation", {
        "email": "string", "firstname": "string", "lastname": "string", "company": "string", "phone": "string",
        "jobtitle": "string", "lifecyclestage": "enumeration", "hubspot_owner_id": "enumeration",
        "hs_additional_emails": "enumeration", "hs_merged_object_ids": "enumeration", "hs_lead_status": "enumeration",
        "hs_email_optout": "bool", "industry": "string", "numberofemployees": "number",
        "recent_deal_close_date": "datetime", "hs_timezone": "enumeration",
        "createdate": "datetime", "lastmodifieddate": "datetime", "hs_object_id": "number",
    }),
    "companies": ("companyinformation", {
        "name": "string", "domain": "string", "industry": "string", "hubspot_owner_id": "enumeration",
        "createdate": "datetime", "hs_lastmodifieddate": "datetime", "hs_object_id": "number",
    }),
    "deals": ("dealinformation", {
        "dealname": "string", "dealstage": "enumeration", "pipeline": "enumeration", "amount": "number",
        "closedate": "datetime", "hubspot_owner_id": "enumeration", "createdate": "datetime",
        "hs_lastmodifieddate": "datetime", "hs_object_id": "number",
    }),
    "emails": ("emailinformation", {
        "hs_timestamp": "datetime", "hs_email_direction": "enumeration", "hs_email_subject": "string",
        "hs_email_text": "string", "hs_email_html": "string", "hs_email_headers": "string",
        "hs_email_status": "enumeration", "hubspot_owner_id": "enumeration",
        "hs_createdate": "datetime", "hs_lastmodifieddate": "datetime", "hs_object_id": "number",
    }),
    "tasks": ("taskinformation", {
        "hs_timestamp": "datetime", "hs_task_subject": "string", "hs_task_body": "string",
        "hs_task_status": "enumeration", "hs_task_priority": "enumeration", "hs_task_type": "enumeration",
        "hubspot_owner_id": "enumeration", "hs_createdate": "datetime", "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    }),
    "meetings": ("meetinginformation", {
        "hs_timestamp": "datetime", "hs_meeting_title": "string", "hs_meeting_body": "string",
        "hs_meeting_start_time": "datetime", "hs_meeting_end_time": "datetime", "hs_meeting_outcome": "enumeration",
        "hubspot_owner_id": "enumeration", "hs_createdate": "datetime", "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    }),
}
#: The options of HubSpot's own enumerations, as a new portal has them (contacts).
_OPTIONS: dict[str, tuple[str, ...]] = {
    "lifecyclestage": STAGES,
    "hs_lead_status": ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                       "BAD_TIMING"),
    "hs_email_optout": ("true", "false"),
}
#: Enumerations whose options HubSpot fills from elsewhere (owners), flagged `externalOptions`.
_EXTERNAL = frozenset({"hubspot_owner_id", "dealstage", "pipeline"})   # stages come from the pipelines
_FIELD_TYPES = {"string": "text", "number": "number", "datetime": "date", "date": "date",
                "enumeration": "select", "bool": "booleancheckbox", "phone_number": "phonenumber"}


def _property(name: str, kind: str, group: str, *, label: str | None = None, description: str = "",
              field_type: str | None = None, hubspot_defined: bool = True) -> dict[str, Any]:
    stamp = now_iso()
    return {
        "name": name, "label": label or name.replace("_", " ").title(), "type": kind,
        "fieldType": field_type or _FIELD_TYPES.get(kind, "text"), "description": description,
        "groupName": group, "options": _options(_OPTIONS.get(name, ()) if hubspot_defined else ()),
        "displayOrder": -1, "calculated": False, "externalOptions": name in _EXTERNAL,
        "hasUniqueValue": name == "email", "hidden": False, "hubspotDefined": hubspot_defined,
        "formField": not hubspot_defined, "archived": False, "createdAt": stamp, "updatedAt": stamp,
        "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": name in READ_ONLY},
    }


def _options(values: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)]


class PropertyCatalog:
    """Property groups and definitions for every object type the sandbox serves."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, dict[str, Any]]] = {}
        self.properties: dict[str, dict[str, dict[str, Any]]] = {}
        for object_type, (group, props) in _BUILT_IN.items():
            self.groups[object_type] = {group: {"name": group, "label": group.title(), "displayOrder": -1,
                                                "archived": False}}
            self.properties[object_type] = {name: _property(name, kind, group) for name, kind in props.items()}

    def create_group(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /properties/{type}/groups: 409 if the name is taken."""
        name = body.get("name")
        if not name or not body.get("label"):
            raise ApiError(400, "VALIDATION_ERROR", "Property group requires name and label.")
        if name in self.groups[object_type]:
            raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        group = {"name": name, "label": body["label"], "displayOrder": int(body.get("displayOrder", -1)),
                 "archived": False}
        self.groups[object_type][name] = group
        return group

    def create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /properties/{type}: validates required fields and group; 409 on a duplicate name."""
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise ApiError(400, "VALIDATION_ERROR", f"Missing required fields: {', '.join(missing)}")
        name = body["name"]
        if body["type"] not in PROPERTY_TYPES:
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid property type {body['type']!r}")
        if body["groupName"] not in self.groups[object_type]:
            raise ApiError(400, "VALIDATION_ERROR", f"Property group {body['groupName']!r} does not exist.")
        if name in self.properties[object_type]:
            raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        prop = _property(name, body["type"], body["groupName"], label=body["label"],
                         description=body.get("description", ""), field_type=body["fieldType"],
                         hubspot_defined=False)
        prop["options"] = body.get("options") or []
        self.properties[object_type][name] = prop
        return prop

    def check_writable(self, object_type: str, values: dict[str, Any]) -> None:
        """Reject unknown or read-only properties, and values an enumeration does not offer, with HubSpot's
        VALIDATION_ERROR body."""
        problems = [problem for name, value in values.items()
                    if (problem := self.value_problem(object_type, name, value)) is not None]
        if problems:
            raise ApiError(400, "VALIDATION_ERROR", f"Property values were not valid: {problems}",
                           context={"propertyName": [str(p["name"]) for p in problems]})

    def value_problem(self, object_type: str, name: str, value: Any) -> dict[str, str | bool] | None:
        """Why HubSpot would refuse `name: value` on a record of `object_type` (its error entry), or None."""
        known = self.properties[object_type]
        if name not in known:
            return {"isValid": False, "message": f'Property "{name}" does not exist', "error": "PROPERTY_DOESNT_EXIST",
                    "name": name}
        if name in READ_ONLY:
            return {"isValid": False, "message": f'"{name}" is a read only property; its value cannot be set.',
                    "error": "READ_ONLY_VALUE", "name": name}
        bad = _not_an_option(known[name], value)
        if bad is not None:
            allowed = ", ".join(str(o["value"]) for o in known[name]["options"])
            return {"isValid": False, "message": f"{bad} was not one of the allowed options: [{allowed}]",
                    "error": "INVALID_OPTION", "name": name}
        return None


def _not_an_option(prop: dict[str, Any], value: Any) -> str | None:
    """The first value (multi-checkbox values are `;`-separated) an enumeration does not offer, else None.
    "" clears the property; enumerations with external options (owners) are checked elsewhere."""
    if prop["type"] not in ("enumeration", "bool") or prop["externalOptions"] or not prop["options"]:
        return None
    offered = {str(o["value"]) for o in prop["options"]}
    parts = [str(value).lower()] if prop["type"] == "bool" else str(value).split(";")
    return next((part for part in parts if part and part not in offered), None)
