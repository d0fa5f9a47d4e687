"""HubSpot's request limits, per token: a rolling ten-second window, a per-second
window for search endpoints, and a daily count that starts again at midnight in the
portal's time zone (`hubspot_portal_timezone`). Sizes are read from the settings
on every check so a test can shrink them; `today` is the wall clock the day is read
from, which a test may replace (`sandbox.hubspot.limits.today = lambda: ...`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

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
        self._day: dict[str, date] = {}          # the portal day each token's daily count belongs to
        self.today: Callable[[], datetime] = lambda: datetime.now(UTC)

    def check(self, token: str, *, search: bool) -> Verdict:
        """Count the request if it is allowed. Search responses carry no rate-limit headers (as HubSpot's)."""
        with self._lock:
            now = self.clock()
            daily = self._daily_used(token)
            if daily >= self.settings.hubspot_daily_limit:
                return Verdict(False, "DAILY", self.headers(0, daily))
            window = self._window(self._rolling, token, now, self.settings.hubspot_rate_window_seconds)
            capacity = self.settings.hubspot_requests_per_10s
            # HubSpot documents the search limit but not whether searches also count in the ten-second
            # window; the conservative reading (they do) is the default, so a client tuned here holds there.
            counts_in_window = not search or self.settings.hubspot_search_counts_in_window
            if search:
                secondly = self._window(self._secondly, token, now, 1.0)
                if len(secondly) >= self.settings.hubspot_search_per_second:
                    return Verdict(False, "SECONDLY")
            if counts_in_window and len(window) >= capacity:
                return Verdict(False, "TEN_SECONDLY_ROLLING", {} if search else self.headers(0, daily))
            if search:
                secondly.append(now)
            if counts_in_window:
                window.append(now)
            self._daily[token] = daily + 1
            if search:
                return Verdict(True)     # search responses carry no rate-limit headers
            return Verdict(True, headers=self.headers(capacity - len(window), daily + 1))

    def _daily_used(self, token: str) -> int:
        """Today's count for `token`; the first request of a new portal day finds it at zero."""
        day = self.today().astimezone(ZoneInfo(self.settings.hubspot_portal_timezone)).date()
        if self._day.get(token) != day:
            self._day[token], self._daily[token] = day, 0
        return self._daily[token]

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
