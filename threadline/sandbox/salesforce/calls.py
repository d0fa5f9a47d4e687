"""One REST call as the API handlers see it, and the table that routes calls to handlers.

HTTP requests and Composite subrequests both become a `Call`, so a subrequest
runs exactly the handler its URL names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.sandbox.salesforce.org import Org
from threadline.sandbox.salesforce.query_engine import QueryEngine
from threadline.sandbox.salesforce.responses import SfError
from threadline.sandbox.settings import SandboxSettings

MIN_VERSION = 50.0
_VERSION = re.compile(r"^v(\d+)\.(\d)$")


@dataclass
class Call:
    org: Org
    engine: QueryEngine
    settings: SandboxSettings
    method: str
    version: str                                   # "v61.0"
    path: str                                      # after /services/data/vXX.X, e.g. "/sobjects/Contact"
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    limits: Callable[[], dict[str, Any]] = dict

    @property
    def url_base(self) -> str:
        return f"/services/data/{self.version}"


Handler = Callable[[Call], tuple[int, Any]]


def check_version(version: str) -> None:
    match = _VERSION.match(version)
    if not match or float(f"{match.group(1)}.{match.group(2)}") < MIN_VERSION:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")


class RouteTable:
    """(method, path pattern) -> handler; patterns are matched against `Call.path`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}/?$"), handler))

    def dispatch(self, call: Call) -> tuple[int, Any]:
        known_path = False
        for method, pattern, handler in self._routes:
            match = pattern.match(call.path)
            if match:
                known_path = True
                if method == call.method:
                    call.groups = match.groups()
                    return handler(call)
        if known_path:
            raise SfError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. "
                          "Allowed are GET,PATCH,DELETE,HEAD")
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
