"""Hints for a key the config does not know: a near spelling ("did you mean 'poll_interval'?"), or the section
it belongs in (a rules file pasted at the top level: "scoring belongs under 'rules:'").

Read from the settings' JSON Schema, walked along the error's location, so every section, discriminated
union (crm kind, mailbox kind) and list is covered without a table to keep in step with the models.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from functools import cache
from typing import Any

from threadline.config.models import Settings


@cache
def _schema() -> dict[str, Any]:
    return Settings.model_json_schema()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(_schema()["$defs"][ref.removeprefix("#/$defs/")])
    return node


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a value at `node` may take (through $ref, anyOf/oneOf, and arrays' items)."""
    node = _resolve(node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [v for option in node[key] for v in _variants(option)]
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return _variants(node["items"])
    return [node] if "properties" in node else []


def _properties(variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for variant in variants:
        merged.update(variant.get("properties", {}))
    return merged


def _level(path: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The keys known at `path` (the location of the unknown key's parent), with their schemas."""
    variants = [_schema()]
    for part in path:
        if isinstance(part, int):
            continue                              # a list item: same variants
        properties = _properties(variants)
        if part in properties:
            variants = _variants(properties[part])
            continue
        # pydantic puts a discriminated union's tag (crm -> "hubspot") in the location
        tagged = [v for v in variants if v.get("properties", {}).get("kind", {}).get("const") == part]
        if not tagged:
            return {}
        variants = tagged
    return _properties(variants)


def key_hint(location: Sequence[Any]) -> str:
    """A hint for the unknown key at `location` (pydantic's error loc), or "" when there is none to give."""
    if not location:
        return ""
    key, parent = str(location[-1]), location[:-1]
    known = _level(parent)
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    if close:
        return f"did you mean '{close[0]}'?"
    homes = sorted(name for name, schema in known.items() if key in _properties(_variants(schema)))
    if homes:
        return f"'{key}' belongs under '{homes[0]}:'; indent it there"
    return ""
