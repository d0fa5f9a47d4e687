"""HubSpot's request limits, per token: a rolling ten-second window, a per-second
window for search endpoints, and a daily count. Sizes are read from the settings
on every check so a test can shrink them."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from threadline.sandbox.settings import SandboxSettings


@dataclass
class Verdict:
    allowed: bool
    policy: str | None = None                 # which limit tripped
    headers: dict[str, str] = field(default_factory=dict)


class RequestLimits:
    """Decides, per request, whether the token is over a limit; thread-safe."""

    def __init__(self, settings: SandboxSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._rolling: dict[str, deque[float]] = {}
        self._secondly: dict[str, deque[float]] = {}
        self._daily: dict[str, int] = {}

    def check(self, token: str, *, search: bool) -> Verdict:
        """Count the request if it is allowed. Search responses carry no rate-limit headers (as HubSpot's)."""
        with self._lock:
            now = self.clock()
            daily = self._daily.get(token, 0)
            if daily >= self.settings.hubspot_daily_limit:
                return Verdict(False, "DAILY", self.headers(0, daily))
            if search:
                window = self._window(self._secondly, token, now, 1.0)
                if len(window) >= self.settings.hubspot_search_per_second:
                    return Verdict(False, "SECONDLY")
                window.append(now)
                self._daily[token] = daily + 1
                return Verdict(True)
            window = self._window(self._rolling, token, now, self.settings.hubspot_rate_window_seconds)
            capacity = self.settings.hubspot_requests_per_10s
            if len(window) >= capacity:
                return Verdict(False, "TEN_SECONDLY_ROLLING", self.headers(0, daily))
            window.append(now)
            self._daily[token] = daily + 1
            return Verdict(True, headers=self.headers(capacity - len(window), daily + 1))

    @staticmethod
    def _window(windows: dict[str, deque[float]], token: str, now: float, span: float) -> deque[float]:
        window = windows.setdefault(token, deque())
        while window and window[0] <= now - span:
            window.popleft()
        return window

    def headers(self, remaining: int, daily_used: int) -> dict[str, str]:
        """The X-HubSpot-RateLimit-* headers HubSpot puts on every non-search response."""
        s = self.settings
        return {
            "X-HubSpot-RateLimit-Max": str(s.hubspot_requests_per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(s.hubspot_rate_window_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(s.hubspot_daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, s.hubspot_daily_limit - daily_used)),
        }
