"""The rule layer's contact writes: absolute field values, and the contact properties the rules need.

HubSpot moves `lifecyclestage` forward only: a write to an earlier stage is refused
(it must be cleared first). That refusal is raised as LifecycleStageRefused, a
PermanentError that says so, instead of a bare validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from threadline.adapters.errors import NotFound, PermanentError
from threadline.adapters.records import CheckResult, CrmField, FieldWrite

PROVIDER = "hubspot"
BATCH = 100
Post = Callable[[str, dict[str, Any]], dict[str, Any]]
#: HubSpot-defined contact properties the rules may write; they exist in every portal and cannot be created.
STANDARD = frozenset({"lifecyclestage", "hubspot_owner_id", "hs_lead_status", "firstname", "lastname", "company",
                      "email", "jobtitle", "phone"})
#: rule field type -> (HubSpot type, fieldType)
TYPES = {"number": ("number", "number"), "string": ("string", "text"), "enumeration": ("enumeration", "select")}


def property_field(prop: dict[str, Any]) -> CrmField:
    """A property definition (GET /crm/v3/properties/contacts) as a CrmField. Enumerations are restricted to
    their options, except those HubSpot fills from elsewhere (`externalOptions`: hubspot_owner_id's owners)."""
    meta = prop.get("modificationMetadata") or {}
    external = bool(prop.get("externalOptions"))
    options = () if external else tuple(str(o["value"]) for o in prop.get("options") or [] if not o.get("hidden"))
    return CrmField(name=str(prop["name"]), type=str(prop.get("type") or "string"), options=options,
                    restricted=prop.get("type") == "enumeration" and not external,
                    writable=not meta.get("readOnlyValue") and not prop.get("calculated"))


class LifecycleStageRefused(PermanentError):
    """HubSpot refused to move `lifecyclestage` backward on these contacts (`contact_ids`)."""

    def __init__(self, contact_ids: list[str]) -> None:
        super().__init__(
            f"hubspot refused to move lifecyclestage backward on contacts {', '.join(contact_ids[:20])}: HubSpot "
            "only moves lifecycle stages forward; to demote, clear the stage (write \"\") first, then write the "
            "earlier stage", provider=PROVIDER, status=400)
        self.contact_ids = contact_ids


def write_fields(post: Post, writes: Sequence[FieldWrite]) -> None:
    """Batch-update contacts (100 per call); on a refused batch, each write is tried alone so one bad
    value does not block the rest. Raises LifecycleStageRefused / PermanentError / NotFound afterwards."""
    failures: dict[str, str] = {}
    for start in range(0, len(writes), BATCH):
        failures.update(_write_chunk(post, writes[start:start + BATCH]))
    backward = [cid for cid, why in failures.items() if _is_backward_stage(why)]
    if backward:
        raise LifecycleStageRefused(backward)
    refused = {cid: why for cid, why in failures.items() if why != "not found"}
    if refused:
        raise PermanentError("hubspot refused field writes: " + "; ".join(
            f"{cid} ({why})" for cid, why in list(refused.items())[:10]), provider=PROVIDER, status=400)
    if failures:
        raise NotFound(f"hubspot contacts not found: {', '.join(list(failures)[:20])}", provider=PROVIDER, status=404)


def _write_chunk(post: Post, chunk: Sequence[FieldWrite]) -> dict[str, str]:
    """contact id -> why it was not written ("not found" or HubSpot's reason)."""
    inputs = [{"id": w.contact_id, "properties": dict(w.fields)} for w in chunk]
    try:
        body = post("/crm/v3/objects/contacts/batch/update", {"inputs": inputs})
    except PermanentError as exc:
        if len(chunk) > 1:
            out: dict[str, str] = {}
            for write in chunk:
                out.update(_write_chunk(post, [write]))
            return out
        return {chunk[0].contact_id: "not found" if isinstance(exc, NotFound) else str(exc)}
    done = {str(r["id"]) for r in body.get("results") or []}
    reasons = {i: _reason(e) for e in body.get("errors") or [] for i in (e.get("context") or {}).get("id", [])}
    return {w.contact_id: reasons.get(w.contact_id, "not found") for w in chunk if w.contact_id not in done}


def _reason(error: dict[str, Any]) -> str:
    if error.get("category") == "OBJECT_NOT_FOUND":
        return "not found"
    return f"{error.get('category', '')}: {error.get('message', '')}"[:300]


def _is_backward_stage(reason: str) -> bool:
    return "lifecyclestage" in reason and ("backward" in reason or "INVALID_LIFECYCLE_STAGE" in reason)


def property_body(name: str, kind: str, options: Sequence[str], group: str) -> tuple[dict[str, Any], str]:
    """The create-property body for one rule field, and the CheckResult detail to report."""
    if kind not in TYPES:
        raise ValueError(f"unknown rule field type {kind!r} for {name} (number, string or enumeration)")
    value_type, field_type = TYPES[kind]
    detail = "created"
    if kind == "enumeration" and not options:
        # HubSpot refuses enumeration values outside the options, so an option-less enumeration would
        # reject every write: store plain text instead.
        value_type, field_type, detail = "string", "text", "created as text (no options given)"
    body: dict[str, Any] = {"name": name, "label": name.replace("_", " ").capitalize(), "type": value_type,
                            "fieldType": field_type, "groupName": group, "description": "Written by Threadline rules."}
    if value_type == "enumeration":
        body["options"] = [{"label": o, "value": o, "displayOrder": i, "hidden": False}
                           for i, o in enumerate(options)]
    return body, detail


def field_check(name: str, kind: str, existing: dict[str, dict[str, Any]]) -> CheckResult | None:
    """The result for a field that needs no creation (present, or standard and missing), else None."""
    item = f"property contacts.{name}"
    prop = existing.get(name)
    if prop is not None:
        expected = TYPES.get(kind, (kind,))[0]
        note = "" if prop.get("type") == expected or kind == "enumeration" else f"; type is {prop.get('type')}"
        return CheckResult(target=PROVIDER, item=item, ok=True, detail="present" + note)
    if name in STANDARD or name.startswith("hs_"):
        return CheckResult(target=PROVIDER, item=item, ok=False,
                           detail="missing: a HubSpot-defined property cannot be created by Threadline")
    return None
