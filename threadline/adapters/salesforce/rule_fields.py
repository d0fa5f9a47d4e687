"""The contact fields the rule layer writes, checked on Contact and Lead (an admin creates them).

Each missing field is a failed CheckResult saying exactly what to create in Setup, like `check`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from threadline.adapters.records import CheckResult, CrmField
from threadline.adapters.salesforce.schema import WantedField

PROVIDER = "salesforce"
OBJECTS = ("Contact", "Lead")
#: rule field type -> (Setup's type name, describe types that can hold it)
TYPES = {"number": ("Number(18, 0)", ("double", "int", "currency", "percent")),
         "string": ("Text(255)", ("string", "textarea", "picklist", "email", "phone", "reference")),
         "enumeration": ("Picklist", ("picklist", "string"))}
Describe = Callable[[str], dict[str, dict[str, Any]]]


def describe_field(spec: dict[str, Any]) -> CrmField:
    """A describe field as a CrmField: active picklist values, `restrictedPicklist`, and `updateable`, which
    is false when field-level security gives the API user read-only access."""
    values = tuple(str(v["value"]) for v in spec.get("picklistValues") or [] if v.get("active", True))
    return CrmField(name=str(spec["name"]), type=str(spec.get("type") or "string"), options=values,
                    restricted=bool(spec.get("restrictedPicklist")), writable=bool(spec.get("updateable", True)))


def wanted_field(object_name: str, name: str, kind: str) -> WantedField:
    if kind not in TYPES:
        raise ValueError(f"unknown rule field type {kind!r} for {name} (number, string or enumeration)")
    setup_type, api_types = TYPES[kind]
    label = name[:-3].replace("_", " ") if name.endswith("__c") else name
    return WantedField(object_name, object_name, label, name, setup_type, api_types)


def check_fields(describe: Describe, fields: Sequence[tuple[str, ...]]) -> list[CheckResult]:
    """One CheckResult per (object, field): present with a fitting type, or what the admin must do."""
    results = []
    for object_name in OBJECTS:
        described = describe(object_name)
        for name, kind, *_ in fields:
            wanted = wanted_field(object_name, name, kind)
            results.append(_check(wanted, described.get(name.lower())))
    return results


def _check(wanted: WantedField, spec: dict[str, Any] | None) -> CheckResult:
    item = f"field {wanted.object_name}.{wanted.api_name}"
    if spec is None and not wanted.api_name.endswith("__c"):
        return CheckResult(target=PROVIDER, item=item, ok=False,
                           detail=f"{wanted.object_name} has no standard field {wanted.api_name}: "
                                  f"rules cannot write it on {wanted.object_name}s")
    if spec is None:
        return CheckResult(target=PROVIDER, item=item, ok=False, detail=f"missing: {wanted.instructions()}")
    if spec["type"] not in wanted.api_types:
        return CheckResult(target=PROVIDER, item=item, ok=False,
                           detail=f"type is {spec['type']}, expected {wanted.setup_type}")
    if not spec.get("updateable", True):
        return CheckResult(target=PROVIDER, item=item, ok=False, detail="present but not writable for the API user")
    return CheckResult(target=PROVIDER, item=item, ok=True, detail="present")
