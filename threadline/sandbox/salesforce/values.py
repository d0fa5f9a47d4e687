"""Field values as the org stores them: JSON input coerced by field type, and rendered back to JSON."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from threadline.sandbox.salesforce.responses import SfError, sf_datetime
from threadline.sandbox.salesforce.schema import FieldSpec

_OFFSET = re.compile(r"([+-]\d{2}):?(\d{2})$")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 as Salesforce accepts it: `Z`, `+0000` or `+00:00`, optional fraction. Raises ValueError."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _OFFSET.sub(lambda m: f"{m.group(1)}:{m.group(2)}", text)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("datetime without offset")
    return value.astimezone(UTC)


def coerce(spec: FieldSpec, value: Any) -> Any:
    """A JSON value checked and converted for storage; SfError in Salesforce's words if it does not fit."""
    if value is None:
        return None
    try:
        if spec.type == "datetime":
            return parse_datetime(str(value))
        if spec.type == "date":
            return date.fromisoformat(str(value)[:10]).isoformat()
        if spec.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError("not a boolean")
            return value
        if spec.type in ("double", "int"):
            return float(value) if spec.type == "double" else int(value)
    except (TypeError, ValueError) as exc:
        raise SfError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {spec.type} from value "
                      f"{str(value)[:40]!r} for field {spec.name}", [spec.name]) from exc
    text = str(value)
    if spec.type == "picklist" and spec.restricted and text not in spec.picklist:
        raise SfError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                      f"{spec.label or spec.name}: bad value for restricted picklist field: {text[:80]}", [spec.name])
    if spec.type == "email" and text and "@" not in text:
        raise SfError(400, "INVALID_EMAIL_ADDRESS", f"{spec.name}: invalid email address: {text[:80]}", [spec.name])
    limit = 32_000 if spec.type == "textarea" else 255
    if len(text) > limit:
        raise SfError(400, "STRING_TOO_LONG", f"{spec.name}: data value too large (max length={limit})",
                      [spec.name])
    return text


def render(value: Any) -> Any:
    """A stored value as Salesforce writes it in JSON."""
    if isinstance(value, datetime):
        return sf_datetime(value)
    return value


def now() -> datetime:
    """The org's clock, in whole milliseconds like Salesforce's timestamps."""
    value = datetime.now(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
