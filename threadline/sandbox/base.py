"""What every simulated provider gives the sandbox app, and the shared request statistics."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from threadline.sandbox.faults import Faults


class SandboxProvider(Protocol):
    """One simulated provider mounted under its real paths."""

    name: str
    prefixes: tuple[str, ...]           # real path prefixes it owns, e.g. ("/crm/", "/oauth/v1/")

    def routes(self) -> list[BaseRoute]: ...

    def error_response(self, status: int, message: str) -> Response:
        """An error in the provider's own body shape."""
        ...

    def throttled_response(self, retry_after: float) -> Response:
        """A 429 exactly as the provider sends it (headers and body)."""
        ...

    def unauthorized_response(self) -> Response:
        """What the provider answers for an expired/invalid token."""
        ...


class Stats:
    """Per-provider request counters, for tests and benchmarks (GET /_sandbox/stats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.units: Counter[str] = Counter()     # quota units (Gmail) where a provider counts them

    def record(self, provider: str, route: str, *, throttled: bool = False, units: int = 0) -> None:
        with self._lock:
            self.requests[provider] += 1
            self.by_route[f"{provider} {route}"] += 1
            if throttled:
                self.throttled[provider] += 1
            if units:
                self.units[provider] += units

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"requests": dict(self.requests), "by_route": dict(self.by_route),
                    "throttled": dict(self.throttled), "units": dict(self.units)}

    def reset(self) -> None:
        with self._lock:
            for counter in (self.requests, self.by_route, self.throttled, self.units):
                counter.clear()


class SandboxContext:
    """What providers share: faults, stats and settings."""

    def __init__(self, faults: Faults | None = None, stats: Stats | None = None) -> None:
        self.faults = faults or Faults()
        self.stats = stats or Stats()


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (parsed by hand: request.form() needs python-multipart)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
