"""The org's daily API request allocation: counted per call, reported in `Sforce-Limit-Info`
on every response and by `GET /limits`; past it, calls answer 403 REQUEST_LIMIT_EXCEEDED."""

from __future__ import annotations

import threading
from typing import Any

from threadline.sandbox.settings import SandboxSettings


class DailyRequests:
    """Counts API calls against `salesforce_daily_api_limit` (read on every call, so tests can change it)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.used = 0
        self._lock = threading.Lock()

    def spend(self) -> bool:
        """Count one call if the allocation has room; False when it is spent (the call is refused)."""
        with self._lock:
            if self.used >= self.settings.salesforce_daily_api_limit:
                return False
            self.used += 1
            return True

    def header(self) -> dict[str, str]:
        with self._lock:
            return {"Sforce-Limit-Info": f"api-usage={self.used}/{self.settings.salesforce_daily_api_limit}"}

    def body(self) -> dict[str, Any]:
        """The `/limits` document (DailyApiRequests plus a few neighbours clients expect)."""
        limit = self.settings.salesforce_daily_api_limit
        with self._lock:
            remaining = max(0, limit - self.used)
        return {"DailyApiRequests": {"Max": limit, "Remaining": remaining},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "SingleEmail": {"Max": 5000, "Remaining": 5000}}
