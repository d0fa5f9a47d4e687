"""Proactive rate limiting: the one place that decides when a request may go out.

A `RateLimiter` is a rolling window sized to a provider's documented limit
(HubSpot: 190 requests / 10 s; Gmail: 15,000 quota units / 60 s ...). Callers
`acquire(cost)` before each request; it blocks until the window has room, so a
normal run never meets a 429. When a provider throttles anyway, `pause(seconds)`
holds every caller sharing the limiter until `Retry-After` has passed. A hold longer than a call may wait
(fencing.max_wait: a HubSpot DAILY 429) is not slept: `acquire` raises RateLimited with the time left, and
the caller parks its work until then.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from threadline.adapters.errors import RateLimited
from threadline.adapters.fencing import max_wait, wait_in_call


@dataclass
class RateLimiter:
    """Rolling-window limiter: at most `capacity` cost units in any `window` seconds. Thread-safe."""

    capacity: float
    window: float
    name: str = ""                    # the provider, named in the RateLimited a long hold raises
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _spent: deque[tuple[float, float]] = field(default_factory=deque, init=False, repr=False)
    _in_window: float = field(default=0.0, init=False, repr=False)
    _paused_until: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    waited_seconds: float = field(default=0.0, init=False)

    def acquire(self, cost: float = 1.0) -> None:
        """Block until `cost` units fit in the window, then spend them. Raises RateLimited instead of waiting
        longer than fencing.max_wait() (a long pause after a throttle); may raise fencing.Fenced while waiting."""
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds limiter capacity {self.capacity}")
        while True:
            with self._lock:
                delay = self._delay_for(cost)
                if delay <= 0:
                    self._spent.append((self.clock(), cost))
                    self._in_window += cost
                    return
            if delay > max_wait():
                raise RateLimited(f"{self.name or 'the provider'} is throttled for {delay:.0f} s more (an earlier "
                                  "429 said so)", retry_after=delay, provider=self.name or None)
            self.waited_seconds += delay
            wait_in_call(delay, self.sleep)

    def pause(self, seconds: float) -> None:
        """Hold all callers for `seconds` (a provider's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _delay_for(self, cost: float) -> float:
        now = self.clock()
        if now < self._paused_until:
            return self._paused_until - now
        while self._spent and self._spent[0][0] <= now - self.window:
            self._in_window -= self._spent.popleft()[1]
        if self._in_window + cost <= self.capacity:
            return 0.0
        # Wait until enough of the oldest spends leave the window.
        need = self._in_window + cost - self.capacity
        freed = 0.0
        for at, spent in self._spent:
            freed += spent
            if freed >= need:
                return at + self.window - now + 0.001
        return self.window  # unreachable while cost <= capacity


class LimiterRegistry:
    """One limiter per (provider, account), created on first use with the configured size."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, account: str, capacity: float, window: float) -> RateLimiter:
        with self._lock:
            key = (provider, account)
            if key not in self._limiters:
                self._limiters[key] = RateLimiter(capacity=capacity, window=window, name=provider)
            return self._limiters[key]
