"""Gmail's quotas: units per rolling minute per user and per project, costs per method (Gmail "Usage limits");
and a count of requests in flight, so tests can see how many a client runs at once."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WINDOW_SECONDS = 60.0

#: Quota units per method, from developers.google.com/gmail/api/reference/quota.
COSTS = {
    "getProfile": 1, "labels.list": 1, "labels.create": 5, "messages.list": 5, "messages.get": 5, "messages.modify": 5,
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

    def refund(self, user: str, units: int) -> None:
        """Give back the latest `units` spent by `user` (the call was refused by another limit after all)."""
        with self._lock:
            spent = self._spent.get(user)
            if spent and spent[-1][1] == units:
                spent.pop()
                self._used[user] -= units

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._used.clear()


PROJECT = "project"      # the key the project quota spends under: the sandbox is one Cloud project


class InFlight:
    """Requests being served now, in all and per caller (access token); keeps the peaks. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self.total = 0
        self.peak = 0                  # most requests in flight at once, whoever made them
        self.peak_per_caller = 0       # most in flight at once for one caller (one mailbox's token)

    @contextmanager
    def track(self, caller: str) -> Iterator[None]:
        with self._lock:
            self.total += 1
            self._now[caller] = self._now.get(caller, 0) + 1
            self.peak = max(self.peak, self.total)
            self.peak_per_caller = max(self.peak_per_caller, self._now[caller])
        try:
            yield
        finally:
            with self._lock:
                self.total -= 1
                self._now[caller] -= 1
                if not self._now[caller]:
                    del self._now[caller]

    def reset(self) -> None:
        with self._lock:
            self.peak = self.peak_per_caller = self.total


def retry_after_header(wait: float) -> int:
    return max(1, math.ceil(wait))
