"""The simulated CRM's state and the operations the HTTP routes and Python helpers share.

Every method expects the caller to hold `lock` (an RLock: helpers that call
each other may re-enter). Errors are raised as `ApiError` in HubSpot's terms.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from threadline.sandbox.hubspot.associations import DEFAULT_TYPES, PRIMARY_IDS, TYPE_TARGETS, Associations
from threadline.sandbox.hubspot.lifecycle import check_forward
from threadline.sandbox.hubspot.pipelines import Pipelines
from threadline.sandbox.hubspot.records import HubObject
from threadline.sandbox.hubspot.responses import ApiError
from threadline.sandbox.hubspot.schema import PropertyCatalog
from threadline.sandbox.hubspot.table import ObjectTable
from threadline.sandbox.settings import SandboxSettings

OBJECT_TYPES = ("contacts", "companies", "deals", "emails", "tasks", "meetings")
REQUIRED = {"emails": ("hs_timestamp",), "tasks": ("hs_timestamp",), "meetings": ("hs_timestamp",),
            "deals": ("dealname", "dealstage")}
SINGULAR = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL", "emails": "EMAIL", "tasks": "TASK",
            "meetings": "MEETING"}
DEFAULT_VALUES = {"tasks": {"hs_task_status": "NOT_STARTED"}}


def not_found(object_type: str, object_id: str) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                    context={"id": [str(object_id)]})


class Crm:
    """Tables, schema, associations and owners of one HubSpot portal."""

    def __init__(self, settings: SandboxSettings, clock_ms: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tables = {t: ObjectTable(t) for t in OBJECT_TYPES}
            self.schema = PropertyCatalog()
            self.associations = Associations()
            self.pipelines = Pipelines()
            self.owners: list[dict[str, Any]] = []
            self._next_id = 1001

    def table(self, object_type: str) -> ObjectTable:
        if object_type not in self.tables:
            raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return self.tables[object_type]

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # reads -----------------------------------------------------------------

    def resolve(self, object_type: str, ref: str, id_property: str | None = None) -> HubObject:
        """Find a live object by id (a merged-away id answers with its winner) or a unique property."""
        table = self.table(object_type)
        if id_property and id_property != "hs_object_id":
            if id_property != "email" or object_type != "contacts":
                raise ApiError(400, "VALIDATION_ERROR", f"{id_property} is not a unique property")
            found = table.by_email.get(ref.lower())
            if found is None:
                raise not_found(object_type, ref)
            return table.objects[found]
        obj = table.objects.get(int(ref)) if ref.isdigit() else None
        while obj is not None and obj.merged_into is not None:
            obj = table.objects.get(obj.merged_into)
        if obj is None or obj.archived:
            raise not_found(object_type, ref)
        return obj

    # writes ----------------------------------------------------------------

    def create(self, object_type: str, properties: dict[str, Any], associations: list[dict[str, Any]] | None = None,
               *, write_trace_id: str | None = None) -> HubObject:
        """Create one object (validated like HubSpot) and its associations."""
        table = self.table(object_type)
        values = {k: None if v is None else str(v) for k, v in (properties or {}).items()}
        self.schema.check_writable(object_type, values)
        missing = [name for name in REQUIRED.get(object_type, ()) if not values.get(name)]
        if missing:
            raise ApiError(400, "VALIDATION_ERROR", f"Missing required properties: {missing}",
                           context={"propertyName": missing})
        email = values.get("email")
        if object_type == "contacts" and email and email.lower() in table.by_email:
            existing = table.by_email[email.lower()]
            raise ApiError(409, "CONFLICT", f"Contact already exists. Existing ID: {existing}")
        if object_type == "deals":
            self.pipelines.check_stage(values)
        targets = [self._association_target(object_type, spec) for spec in associations or []]
        now = self.clock_ms()
        stored = {**DEFAULT_VALUES.get(object_type, {}), **{k: v for k, v in values.items() if v}}
        obj = HubObject(self.new_id(), object_type, now, now, stored, write_trace_id=write_trace_id)
        table.add(obj)
        for to_type, to_id, primary in targets:
            self.associations.link(object_type, obj.id, to_type, to_id, primary=primary)
        return obj

    def update(self, object_type: str, ref: str, properties: dict[str, Any], id_property: str | None = None) -> HubObject:
        obj = self.resolve(object_type, ref, id_property)
        values = {k: None if v is None else str(v) for k, v in properties.items()}
        self.schema.check_writable(object_type, values)
        if object_type == "contacts":
            check_forward(obj.properties.get("lifecyclestage"), values, obj.id)
        if object_type == "deals":
            self.pipelines.check_stage(values, obj.properties)
        table = self.table(object_type)
        email = values.get("email")
        if email and table.by_email.get(email.lower(), obj.id) != obj.id:
            raise ApiError(409, "CONFLICT", f"Contact already exists. Existing ID: {table.by_email[email.lower()]}")
        table.set_properties(obj, values, self.clock_ms())
        return obj

    def archive(self, object_type: str, ref: str) -> None:
        """DELETE: archive (idempotent for an already archived id, as HubSpot answers 204)."""
        obj = self.table(object_type).objects.get(int(ref)) if ref.isdigit() else None
        if obj is None or obj.archived:
            return
        obj.archived, obj.archived_ms = True, self.clock_ms()
        self.table(object_type).retire(obj)

    def merge(self, winner_id: int, loser_id: int) -> HubObject:
        """Merge two contacts: the winner keeps its id, absorbs the loser's addresses and links,
        and lists the loser in `hs_merged_object_ids`; the loser's id resolves to the winner."""
        table = self.table("contacts")
        winner, loser = table.live(winner_id), table.live(loser_id)
        if winner is None or loser is None or winner is loser:
            raise ApiError(400, "VALIDATION_ERROR", f"Cannot merge {loser_id} into {winner_id}")
        merged = [x for x in (winner.properties.get("hs_merged_object_ids") or "").split(";") if x]
        merged.append(str(loser.id))
        merged += [x for x in (loser.properties.get("hs_merged_object_ids") or "").split(";") if x]
        extra = [x for x in (winner.properties.get("hs_additional_emails") or "").split(";") if x]
        extra += [x for x in [loser.properties.get("email")] + (loser.properties.get("hs_additional_emails")
                                                               or "").split(";") if x and x not in extra]
        table.retire(loser)
        loser.merged_into = winner.id
        self.associations.repoint("contacts", loser.id, winner.id)
        table.set_properties(winner, {"hs_merged_object_ids": ";".join(merged),
                                      "hs_additional_emails": ";".join(extra)}, self.clock_ms())
        return winner

    def link_default(self, from_type: str, from_ref: str, to_type: str, to_ref: str) -> tuple[int, int]:
        if (from_type, to_type) not in DEFAULT_TYPES:
            raise ApiError(400, "VALIDATION_ERROR", f"No default association from {from_type} to {to_type}")
        source, target = self.resolve(from_type, from_ref), self.resolve(to_type, to_ref)
        self.associations.link(from_type, source.id, to_type, target.id)
        return source.id, target.id

    def _association_target(self, object_type: str, spec: dict[str, Any]) -> tuple[str, int, bool]:
        """Check one create-time association: known type id from this object type to a live object.
        Returns (target type, target id, whether the Primary label was asked for)."""
        to_id = str((spec.get("to") or {}).get("id", ""))
        kinds = spec.get("types") or []
        type_ids = {int(kind.get("associationTypeId", 0)) for kind in kinds}
        for type_id in type_ids:
            pair = TYPE_TARGETS.get(type_id)
            if pair is None or pair[0] != object_type:
                raise ApiError(400, "VALIDATION_ERROR", f"Invalid association type for {object_type}: {kinds}")
        for kind in kinds:
            pair = TYPE_TARGETS.get(int(kind.get("associationTypeId", 0)))
            if pair and pair[0] == object_type:
                try:
                    return pair[1], self.resolve(pair[1], to_id).id, bool(type_ids & PRIMARY_IDS)
                except ApiError as exc:
                    raise ApiError(400, "VALIDATION_ERROR",
                                   f"Association target {pair[1]} {to_id} does not exist.",
                                   context={"toObjectId": [to_id]}) from exc
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid association type for {object_type}: {spec.get('types')}")
