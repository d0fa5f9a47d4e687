"""One API call as the Gmail simulator sees it, whether it came alone or inside a batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from threadline.sandbox.gmail.errors import invalid


@dataclass
class ApiCall:
    method: str
    path: str                               # without the "/upload" prefix
    query: list[tuple[str, str]]
    headers: dict[str, str]                 # lower-case names
    body: bytes = b""
    upload: bool = False                    # came in on /upload/gmail/v1/...

    def param(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def params(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def int_param(self, name: str, default: int, maximum: int) -> int:
        value = self.param(name)
        if value is None:
            return default
        if not value.isdigit():
            raise invalid(f"Invalid value for {name}: {value}")
        return min(int(value), maximum)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise invalid("Invalid JSON payload received.") from exc
        if not isinstance(data, dict):
            raise invalid("Invalid JSON payload received.")
        return data


@dataclass
class ApiReply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()
