"""`GET /limits` and the version list `GET /services/data/`."""

from __future__ import annotations

from typing import Any

from threadline.sandbox.salesforce.calls import Call, RouteTable

VERSIONS = [f"{n}.0" for n in range(50, 63)]


def versions() -> list[dict[str, Any]]:
    return [{"label": f"API {v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]


def limits(call: Call) -> tuple[int, Any]:
    return 200, call.limits()


def register(table: RouteTable) -> None:
    table.add("GET", "/limits", limits)
