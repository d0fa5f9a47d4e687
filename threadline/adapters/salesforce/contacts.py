"""Incremental pull of Contacts and Leads by SystemModstamp, and the record -> CrmContact mapping.

Each object is read with one `queryAll` (deleted records included, so merges and
deletions arrive in the same stream as changes, at no extra call):

    SELECT ... FROM Contact WHERE SystemModstamp >= :ts ORDER BY SystemModstamp, Id

paged by nextRecordsUrl (2,000 records a page unless `batch_size` is smaller).
The literal is the cursor's second (SOQL datetimes have no fraction), and what
sorts at or before the cursor's (stamp, Id) is dropped, so ties are handled and an
idle pass costs one query per object. A merged-away record (deleted, with
MasterRecordId) becomes `merged_into` the survivor; a converted Lead becomes
`merged_into` its ConvertedContactId.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from threadline.adapters.records import ContactPage, CrmContact
from threadline.adapters.salesforce.cursor import Position, SalesforceCursor

log = structlog.get_logger("threadline.salesforce")

QueryPages = Callable[[str], Iterable[list[dict[str, Any]]]]
OBJECTS = ("Contact", "Lead")
COMMON = ("Id", "Email", "FirstName", "LastName", "OwnerId", "SystemModstamp", "IsDeleted", "MasterRecordId")
PER_OBJECT = {"Contact": (), "Lead": ("Company", "IsConverted", "ConvertedContactId")}


def parse_sf_time(value: str) -> datetime:
    """Salesforce's `2024-05-01T12:00:00.000+0000` as an aware datetime."""
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif value[-5] in "+-" and value[-3] != ":":
        value = f"{value[:-2]}:{value[-2:]}"
    return datetime.fromisoformat(value).astimezone(UTC)


def soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_contact(record: dict[str, Any], object_name: str, email_fields: Sequence[str],
               extras: Sequence[str]) -> CrmContact:
    emails = tuple(dict.fromkeys(str(record[f]) for f in ("Email", *email_fields) if record.get(f)))
    deleted = bool(record.get("IsDeleted"))
    merged_into = record.get("MasterRecordId") if deleted else None
    if object_name == "Lead" and record.get("IsConverted") and record.get("ConvertedContactId"):
        merged_into = record["ConvertedContactId"]
    return CrmContact(id=record["Id"], emails=emails, first_name=record.get("FirstName"),
                      last_name=record.get("LastName"), company=record.get("Company"),
                      owner_id=record.get("OwnerId"), updated_at=parse_sf_time(record["SystemModstamp"]),
                      object_type=object_name.lower(), merged_into=merged_into, deleted=deleted,
                      properties={name: record.get(name) for name in extras})


class ContactPull:
    """One pass of `pull_contacts`: every changed Contact, then every changed Lead, page by page."""

    def __init__(self, query_pages: QueryPages, *, email_fields: Sequence[str] = (),
                 extra_fields: Sequence[str] = (), fields_of: Callable[[str], Collection[str]] | None = None) -> None:
        """``fields_of(object)`` gives the object's field names (lower case, from describe): extra fields it
        lacks are left out of the query, since one unknown field fails the whole SOQL statement."""
        self.query_pages = query_pages
        self.email_fields = tuple(email_fields)
        self.extras = tuple(extra_fields)
        self.fields_of = fields_of
        self._present: dict[str, tuple[str, ...]] = {}

    def _extras_on(self, object_name: str) -> tuple[str, ...]:
        if not self.extras or self.fields_of is None:
            return self.extras
        if object_name not in self._present:
            known = self.fields_of(object_name)
            self._present[object_name] = tuple(e for e in self.extras if e.lower() in known)
            missing = sorted(set(self.extras) - set(self._present[object_name]))
            if missing:
                log.warning("salesforce.fields_missing", object=object_name, fields=missing)
        return self._present[object_name]

    def soql(self, object_name: str, position: Position) -> str:
        extras = self._extras_on(object_name)
        fields = ", ".join(dict.fromkeys([*COMMON, *PER_OBJECT[object_name], *self.email_fields, *extras]))
        where = f" WHERE SystemModstamp >= {soql_datetime(position.stamp)}" if position.stamp else ""
        return f"SELECT {fields} FROM {object_name}{where} ORDER BY SystemModstamp, Id"

    def pages(self, cursor: SalesforceCursor) -> Iterator[ContactPage]:
        for object_name in OBJECTS:
            position = cursor.at(object_name)
            for records in self.query_pages(self.soql(object_name, position)):
                fresh = []
                for record in records:
                    stamp = parse_sf_time(record["SystemModstamp"])
                    if position.is_after(stamp, record["Id"]):
                        fresh.append(to_contact(record, object_name, self.email_fields, self.extras))
                        position = Position(stamp, record["Id"])
                if fresh:
                    cursor = cursor.moved(object_name, position)
                    yield ContactPage(contacts=tuple(fresh), cursor=cursor.to_dict())
