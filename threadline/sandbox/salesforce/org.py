"""The simulated org's records: create, update, delete, upsert, merge and lead conversion.

Deleted records stay (as in the Recycle Bin) with `IsDeleted = true`, so
`queryAll` and getDeleted see them; a merge's loser also carries
`MasterRecordId`. Every write stamps `SystemModstamp`. Callers hold `lock`.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from threadline.sandbox.salesforce.ids import IdFactory, object_type_of, to18
from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.schema import DEFAULTS, OPPORTUNITY_STAGES, REQUIRED, FieldSpec, Schema
from threadline.sandbox.salesforce.values import coerce, now

Row = dict[str, Any]
CLOSED_TASK_STATUSES = {"Completed"}
CLOSED_STAGES = {stage for stage, closed in OPPORTUNITY_STAGES if closed}
ACTIVITIES = ("Task", "Event")


class Org:
    """Every record of one org, by object type and id. Not locked itself: callers hold `lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.schema = Schema()
        self.ids = IdFactory()
        self.tables: dict[str, dict[str, Row]] = {name: {} for name in self.schema.objects}
        self.deleted_at: dict[str, datetime] = {}

    # reads -----------------------------------------------------------------

    def row(self, object_name: str, record_id: str, *, deleted_ok: bool = False) -> Row:
        name = self.schema.object(object_name).name
        row = self.tables[name].get(to18(record_id))
        if row is None or (row["IsDeleted"] and not deleted_ok):
            if row is not None:
                raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return row

    def rows(self, object_name: str) -> list[Row]:
        return list(self.tables[self.schema.object(object_name).name].values())

    def find_by(self, object_name: str, field_name: str, value: Any) -> list[Row]:
        spec = self.schema.object(object_name).canonical(field_name)
        wanted = str(value).lower()
        return [r for r in self.rows(object_name)
                if not r["IsDeleted"] and r.get(spec.name) is not None and str(r[spec.name]).lower() == wanted]

    # writes ----------------------------------------------------------------

    def create(self, object_name: str, values: dict[str, Any], *, stamp: datetime | None = None) -> str:
        """Insert a record; returns its 18-character id. SfError for unknown, read-only or invalid fields."""
        schema = self.schema.object(object_name)
        fields = self._coerced(schema.name, values)
        missing = [f for f in REQUIRED.get(schema.name, ()) if not fields.get(f)]
        if missing:
            raise SfError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                          missing)
        self._check_integrity(schema.name, fields)
        record_id = self.ids.new(schema.name)
        self._check_unique(schema.name, fields, record_id)
        at = stamp or now()
        row: Row = {spec.name: None for spec in schema.fields.values()}
        row.update(DEFAULTS.get(schema.name, {}))
        row.update(fields, Id=record_id, IsDeleted=False, CreatedDate=at, LastModifiedDate=at, SystemModstamp=at)
        self._name(row)
        self._derive(schema.name, row)
        self.tables[schema.name][record_id] = row
        return record_id

    def update(self, object_name: str, record_id: str, values: dict[str, Any], *,
               stamp: datetime | None = None) -> Row:
        row = self.row(object_name, record_id)
        name = self.schema.object(object_name).name
        fields = self._coerced(name, values)
        self._check_integrity(name, {**row, **fields})
        self._check_unique(name, fields, row["Id"])
        at = stamp or now()
        row.update(fields, LastModifiedDate=at, SystemModstamp=at)
        self._name(row)
        self._derive(name, row)
        return row

    def delete(self, object_name: str, record_id: str, *, master_id: str | None = None,
               stamp: datetime | None = None) -> None:
        row = self.row(object_name, record_id)
        at = stamp or now()
        row.update(IsDeleted=True, SystemModstamp=at, LastModifiedDate=at, MasterRecordId=master_id)
        self.deleted_at[row["Id"]] = at

    def upsert(self, object_name: str, field_name: str, value: str, values: dict[str, Any]) -> tuple[str, bool]:
        """Create or update by an external-id field. Returns (id, created)."""
        spec = self.schema.object(object_name).canonical(field_name)
        if not (spec.external_id or spec.name == "Id"):
            raise SfError(400, "INVALID_FIELD", f"Field {spec.name} is not an external id field", [spec.name])
        matches = self.find_by(object_name, spec.name, value)
        if len(matches) > 1:
            raise SfError(300, "MULTIPLE_CHOICES", f"more than one record found for external id field {spec.name}")
        if matches:
            return self.update(object_name, matches[0]["Id"], values)["Id"], False
        return self.create(object_name, {**values, spec.name: value}), True

    def merge(self, master_id: str, loser_id: str) -> None:
        """Merge `loser_id` into `master_id` (same object): the loser is deleted with MasterRecordId set."""
        kind = object_type_of(to18(master_id))
        if kind not in ("Contact", "Lead") or object_type_of(to18(loser_id)) != kind:
            raise SfError(400, "INVALID_TYPE", "merge needs two Contacts or two Leads")
        master = self.row(kind, master_id)
        loser = self.row(kind, loser_id)
        for task in self.rows("Task"):
            if task["WhoId"] == loser["Id"] and not task["IsDeleted"]:
                task["WhoId"] = master["Id"]   # Salesforce reparents related activities to the survivor
        self.update(kind, master["Id"], {})
        self.delete(kind, loser["Id"], master_id=master["Id"])

    def convert_lead(self, lead_id: str, contact_id: str | None = None) -> str:
        """Convert a lead into a new (or the given) contact; returns the contact id."""
        lead = self.row("Lead", lead_id)
        if contact_id is None:
            contact_id = self.create("Contact", {k: lead[k] for k in ("FirstName", "LastName", "Email", "OwnerId")})
        lead.update(IsConverted=True, ConvertedContactId=to18(contact_id), ConvertedDate=now().date().isoformat())
        self.update("Lead", lead["Id"], {})
        return to18(contact_id)

    # plumbing ----------------------------------------------------------------

    def _coerced(self, object_name: str, values: dict[str, Any]) -> dict[str, Any]:
        schema = self.schema.object(object_name)
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            spec = schema.canonical(key)
            if not spec.updateable and object_name != "User":
                raise SfError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                              f"Unable to create/update fields: {spec.name}. Please check the security settings "
                              "of this field and verify that it is read/write for your profile or permission set.",
                              [spec.name])
            out[spec.name] = self._reference(spec, coerce(spec, value))
        return out

    def _reference(self, spec: FieldSpec, value: Any) -> Any:
        if spec.type != "reference" or value is None or not spec.references:
            return value
        value = to18(str(value))
        kind = object_type_of(value)
        row = self.tables[kind].get(value) if kind in spec.references else None
        if row is None or row["IsDeleted"]:
            raise SfError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [spec.name])
        return value

    def _check_unique(self, object_name: str, fields: dict[str, Any], record_id: str) -> None:
        schema = self.schema.object(object_name)
        for name, value in fields.items():
            if value is None or not schema.canonical(name).unique:
                continue
            clash = [r for r in self.find_by(object_name, name, value) if r["Id"] != record_id]
            if clash:
                raise SfError(400, "DUPLICATE_VALUE",
                              f"duplicate value found: {name} duplicates value on record with id: {clash[0]['Id']}",
                              [name])

    @staticmethod
    def _check_integrity(object_name: str, fields: dict[str, Any]) -> None:
        """An activity whose WhoId is a Lead cannot be related to a record: Salesforce refuses a WhatId on it."""
        who = fields.get("WhoId")
        if object_name in ACTIVITIES and fields.get("WhatId") and who and object_type_of(who) == "Lead":
            raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Related To ID: an activity whose Name is a lead cannot "
                          "be related to another record; only a contact can be", ["WhoId", "WhatId"])

    def _derive(self, object_name: str, row: Row) -> None:
        """Fields Salesforce computes: a Task is closed when its Status is a closed one (default org: Completed),
        and takes its AccountId from the WhatId's account, else its Contact's; an Opportunity is closed (and won)
        by its stage."""
        if object_name == "Task":
            row["IsClosed"] = row.get("Status") in CLOSED_TASK_STATUSES
            row["AccountId"] = self._activity_account(row)
        if object_name == "Opportunity":
            row["IsClosed"] = row.get("StageName") in CLOSED_STAGES
            row["IsWon"] = row.get("StageName") == "Closed Won"

    def _activity_account(self, row: Row) -> str | None:
        what, who = row.get("WhatId"), row.get("WhoId")
        kind = object_type_of(what) if what else None
        if kind == "Account":
            return str(what)
        if kind == "Opportunity":
            return self.tables["Opportunity"][str(what)].get("AccountId")
        if who and object_type_of(who) == "Contact":
            return self.tables["Contact"][str(who)].get("AccountId")
        return None

    @staticmethod
    def _name(row: Row) -> None:
        if "FirstName" in row and "LastName" in row:
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or None
