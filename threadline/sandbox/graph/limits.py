"""Outlook service limits per app per mailbox (requests per rolling window, concurrent requests) and Graph's
global limit per app across all tenants (learn.microsoft.com "Microsoft Graph service-specific throttling
limits"; the Outlook service documents no per-tenant limit)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from threadline.sandbox.graph.errors import throttled


class MailboxLimits:
    """`requests` per `window` seconds and `concurrency` in flight, per (app, mailbox). Thread-safe.

    The fields are plain attributes so tests can shrink them; `reset()` restores nothing,
    the owner re-creates or re-sizes it.
    """

    def __init__(self, requests: int, window: float, concurrency: int,
                 clock: Callable[[], float] = time.monotonic, *, app_requests: int = 130_000,
                 app_window: float = 10.0) -> None:
        self.requests, self.window, self.concurrency, self.clock = requests, window, concurrency, clock
        self.app_requests, self.app_window = app_requests, app_window
        self.delay = 0.0                        # seconds each request holds its slot (to make concurrency visible)
        self._spent: dict[tuple[str, str], deque[float]] = {}
        self._app_spent: dict[str, deque[float]] = {}
        self._in_flight: dict[tuple[str, str], int] = {}
        self.peak_in_flight = 0                 # most requests in flight at once, all mailboxes together
        self.peak_per_mailbox = 0               # most in flight at once for one (app, mailbox)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._app_spent.clear()
            self._in_flight.clear()
            self.peak_in_flight = self.peak_per_mailbox = 0

    @contextmanager
    def slot(self, app: str, mailbox: str) -> Iterator[None]:
        """Count one request and hold a concurrency slot while it runs; raises a 429 GraphError otherwise."""
        key = (app, mailbox)
        with self._lock:
            if self._in_flight.get(key, 0) >= self.concurrency:
                raise throttled(1, "MailboxConcurrency", "Application is over its MailboxConcurrency limit.")
            wait = self._spend(key)
            if wait > 0:
                raise throttled(max(1, math.ceil(wait)))
            wait = self._spend_app(app)
            if wait > 0:
                self._spent[key].pop()          # refused after all: the mailbox's request does not count
                raise throttled(max(1, math.ceil(wait)), message="Application is over its request limit.")
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.peak_per_mailbox = max(self.peak_per_mailbox, self._in_flight[key])
            self.peak_in_flight = max(self.peak_in_flight, sum(self._in_flight.values()))
        try:
            if self.delay:
                time.sleep(self.delay)
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    def _spend(self, key: tuple[str, str]) -> float:
        now = self.clock()
        spent = self._spent.setdefault(key, deque())
        while spent and spent[0] <= now - self.window:
            spent.popleft()
        if len(spent) < self.requests:
            spent.append(now)
            return 0.0
        return spent[0] + self.window - now

    def _spend_app(self, app: str) -> float:
        now = self.clock()
        spent = self._app_spent.setdefault(app, deque())
        while spent and spent[0] <= now - self.app_window:
            spent.popleft()
        if len(spent) < self.app_requests:
            spent.append(now)
            return 0.0
        return spent[0] + self.app_window - now
