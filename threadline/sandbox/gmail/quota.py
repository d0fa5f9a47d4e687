"""Gmail's per-user quota: units per rolling minute, costs per method (Gmail "Usage limits")."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0

#: Quota units per method, from developers.google.com/gmail/api/reference/quota.
COSTS = {
    "getProfile": 1, "labels.list": 1, "messages.list": 5, "messages.get": 5, "messages.modify": 5,
    "messages.delete": 10, "messages.insert": 25, "messages.import": 25, "messages.send": 100,
    "history.list": 2, "threads.get": 10, "watch": 100, "stop": 50,
}


class UserQuota:
    """Rolling-window unit accounting per user. Thread-safe."""

    def __init__(self, units_per_minute: int, clock: Callable[[], float] = time.monotonic,
                 window_seconds: float = WINDOW_SECONDS) -> None:
        self.units_per_minute = units_per_minute
        self.window_seconds = window_seconds      # tests shrink it to see a 429 clear quickly
        self.clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def spend(self, user: str, units: int) -> float:
        """Spend `units` for `user`; returns 0 when allowed, else the seconds until they would fit."""
        now = self.clock()
        with self._lock:
            spent = self._spent.setdefault(user, deque())
            used = self._used.get(user, 0)
            while spent and spent[0][0] <= now - self.window_seconds:
                used -= spent.popleft()[1]
            self._used[user] = used
            if used + units <= self.units_per_minute:
                spent.append((now, units))
                self._used[user] = used + units
                return 0.0
            need, freed = used + units - self.units_per_minute, 0
            for at, cost in spent:
                freed += cost
                if freed >= need:
                    return max(0.001, at + self.window_seconds - now)
            return self.window_seconds

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._used.clear()


def retry_after_header(wait: float) -> int:
    return max(1, math.ceil(wait))
