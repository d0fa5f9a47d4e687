"""The org's daily API request allocation: counted per call over a rolling 24 hours, reported in
`Sforce-Limit-Info` on every response and by `GET /limits`; past it, calls answer 403
REQUEST_LIMIT_EXCEEDED. Calls leave the count 24 hours after they were made (counted per minute)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from threadline.sandbox.settings import SandboxSettings

WINDOW_MINUTES = 24 * 60


class DailyRequests:
    """Counts API calls against `salesforce_daily_api_limit` (read on every call, so tests can change it).

    `clock` is the wall clock the rolling window is read from; a test may replace it
    (`sandbox.salesforce.limits.clock = lambda: ...`)."""

    def __init__(self, settings: SandboxSettings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.clock = clock
        self._minutes: deque[list[int]] = deque()      # [minute number, calls made in it], oldest first
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """Calls counted in the last 24 hours."""
        with self._lock:
            return self._expire()

    def spend(self) -> bool:
        """Count one call if the allocation has room; False when it is spent (the call is refused)."""
        with self._lock:
            if self._expire() >= self.settings.salesforce_daily_api_limit:
                return False
            minute = self._minute()
            if self._minutes and self._minutes[-1][0] == minute:
                self._minutes[-1][1] += 1
            else:
                self._minutes.append([minute, 1])
            self._used += 1
            return True

    def _minute(self) -> int:
        return int(self.clock().timestamp() // 60)

    def _expire(self) -> int:
        """Drop the minutes older than the window; the calls still counted."""
        start = self._minute() - WINDOW_MINUTES
        while self._minutes and self._minutes[0][0] <= start:
            self._used -= self._minutes.popleft()[1]
        return self._used

    def header(self) -> dict[str, str]:
        with self._lock:
            return {"Sforce-Limit-Info": f"api-usage={self._expire()}/{self.settings.salesforce_daily_api_limit}"}

    def body(self) -> dict[str, Any]:
        """The `/limits` document (DailyApiRequests plus a few neighbours clients expect)."""
        limit = self.settings.salesforce_daily_api_limit
        with self._lock:
            remaining = max(0, limit - self._expire())
        return {"DailyApiRequests": {"Max": limit, "Remaining": remaining},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "SingleEmail": {"Max": 5000, "Remaining": 5000}}
