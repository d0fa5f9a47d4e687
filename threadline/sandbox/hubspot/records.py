"""One stored CRM object and HubSpot's JSON rendering of it.

HubSpot keeps every property value as a string; dates are ISO-8601 strings in
responses while search filters take epoch milliseconds (or ISO). The object id,
create date and last-modified date are derived from the record, never stored as
free properties, so they cannot drift from the indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}   # others: hs_lastmodifieddate
CREATED_PROPERTY = {"contacts": "createdate", "companies": "createdate", "deals": "createdate"}  # others: hs_createdate
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
}
_DIGITS = re.compile(r"^-?\d+$")


def modified_property(object_type: str) -> str:
    return MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate")


def created_property(object_type: str) -> str:
    return CREATED_PROPERTY.get(object_type, "hs_createdate")


def default_properties(object_type: str) -> tuple[str, ...]:
    return DEFAULT_PROPERTIES.get(object_type, ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"))


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes them: 2024-05-01T12:00:00.123Z."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: Any) -> int | None:
    """Epoch milliseconds from a filter value or stored date: digits, ISO date-time or date."""
    if value is None:
        return None
    text = str(value).strip()
    if _DIGITS.match(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass
class HubObject:
    """A stored object. `merged_into` is set on a contact merged away (its id now resolves to the winner)."""

    id: int
    object_type: str
    created_ms: int
    updated_ms: int
    properties: dict[str, str] = field(default_factory=dict)
    archived: bool = False
    archived_ms: int | None = None
    merged_into: int | None = None
    write_trace_id: str | None = None

    def value(self, name: str) -> str | None:
        """A property's current value as HubSpot returns it (derived ones included)."""
        if name == "hs_object_id":
            return str(self.id)
        if name == modified_property(self.object_type):
            return iso(self.updated_ms)
        if name == created_property(self.object_type):
            return iso(self.created_ms)
        return self.properties.get(name)

    def to_json(self, names: tuple[str, ...] | list[str] | None = None) -> dict[str, Any]:
        """HubSpot's SimplePublicObject shape; requested properties without a value come back as null."""
        wanted = list(names) if names else list(default_properties(self.object_type))
        for always in ("hs_object_id", created_property(self.object_type), modified_property(self.object_type)):
            if always not in wanted:
                wanted.append(always)
        body: dict[str, Any] = {
            "id": str(self.id),
            "properties": {name: self.value(name) for name in wanted},
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
            "archived": self.archived,
        }
        if self.archived_ms is not None:
            body["archivedAt"] = iso(self.archived_ms)
        if self.write_trace_id is not None:
            body["objectWriteTraceId"] = self.write_trace_id
        return body
