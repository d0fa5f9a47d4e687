"""One Graph call as the simulator sees it, whether it came alone or inside a `$batch`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from threadline.sandbox.graph.errors import bad_request


@dataclass
class ApiCall:
    method: str
    path: str                                 # below /v1.0, e.g. "/users/x/messages/y"
    query: dict[str, str]
    headers: dict[str, str]                   # lower-case names
    body: bytes = b""
    base_url: str = ""                        # scheme://host:port, for nextLink/deltaLink

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise bad_request("Unable to read JSON request payload.") from exc
        if not isinstance(data, dict):
            raise bad_request("Unable to read JSON request payload.")
        return data


@dataclass
class ApiReply:
    status: int
    body: dict[str, Any] | bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()

    @property
    def content_type(self) -> str | None:
        if self.body is None:
            return None
        return self.headers.get("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
