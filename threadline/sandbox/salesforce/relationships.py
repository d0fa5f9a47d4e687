"""Relationship paths in SOQL: `Opportunity.IsClosed` (child to parent, through a lookup field) and
`(SELECT ... FROM OpportunityContactRoles ...)` (parent to children, a subquery).

A lookup field `XxxId` names its parent relationship `Xxx`; polymorphic lookups (WhoId, WhatId) need
TYPEOF, which this sandbox does not read, so a path through them is refused as Salesforce refuses a
relationship it does not know. Parent records render nested under the relationship name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.sandbox.salesforce.org import Org, Row
from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.salesforce.schema import CHILD_RELATIONSHIPS, FieldSpec
from threadline.sandbox.salesforce.values import render


@dataclass(frozen=True)
class FieldPath:
    """One selected or filtered field: `hops` are (lookup field, parent object, relationship name)."""

    name: str                                  # canonical, e.g. "Opportunity.LastModifiedDate"
    hops: tuple[tuple[str, str, str], ...]
    spec: FieldSpec                            # the field at the end of the path

    def value(self, org: Org, row: Row | None) -> Any:
        """The field's value for `row` (None if a parent on the way is missing or deleted)."""
        for lookup, parent, _ in self.hops:
            row = _parent(org, parent, row.get(lookup) if row else None)
        return row.get(self.spec.name) if row else None


def resolve(org: Org, object_name: str, dotted: str) -> FieldPath:
    """The path for `dotted` from `object_name` (INVALID_FIELD if a relationship or field is unknown)."""
    *relations, last = dotted.split(".")
    current = org.schema.object(object_name)
    hops, names = [], []
    for relation in relations:
        lookup = current.fields.get(f"{relation}id".lower())
        if lookup is None or lookup.type != "reference" or len(lookup.references) != 1:
            raise SfError(400, "INVALID_FIELD", f"Didn't understand relationship '{relation}' in field path. "
                          "If you are attempting to use a custom relationship, be sure to append the '__r' after "
                          "the custom relationship name.", [dotted])
        relationship = lookup.name[:-2]
        hops.append((lookup.name, lookup.references[0], relationship))
        names.append(relationship)
        current = org.schema.object(lookup.references[0])
    spec = current.canonical(last)
    return FieldPath(".".join([*names, spec.name]), tuple(hops), spec)


def child_relationship(object_name: str, relationship: str) -> tuple[str, str, str]:
    """(relationship name, child object, its lookup to the parent) for a subquery's FROM."""
    for (parent, name), (child, lookup) in CHILD_RELATIONSHIPS.items():
        if parent == object_name and name.lower() == relationship.lower():
            return name, child, lookup
    raise SfError(400, "INVALID_TYPE", f"Didn't understand relationship '{relationship}' in FROM part of query call. "
                  "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
                  "relationship name.")


def render_path(org: Org, row: Row, path: FieldPath, record: dict[str, Any], url_base: str) -> None:
    """Put one path's value into a rendered record: parents as nested records, a missing parent as null."""
    target: dict[str, Any] = record
    current: Row | None = row
    for lookup, parent, relationship in path.hops:
        current = _parent(org, parent, current.get(lookup) if current else None)
        if current is None:
            target[relationship] = None
            return
        nested = target.get(relationship)
        if not isinstance(nested, dict):
            nested = {"attributes": {"type": parent, "url": f"{url_base}/sobjects/{parent}/{current['Id']}"}}
            target[relationship] = nested
        target = nested
    target[path.spec.name] = render(current.get(path.spec.name) if current else None)


def _parent(org: Org, object_name: str, record_id: Any) -> Row | None:
    row = org.tables[object_name].get(str(record_id)) if record_id else None
    return row if row is not None and not row["IsDeleted"] else None
