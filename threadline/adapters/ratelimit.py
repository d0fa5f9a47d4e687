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
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Protocol

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
                    self._spend(cost)
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

    def _spend(self, cost: float) -> None:
        """Record `cost` as spent now (the lock is held)."""
        self._spent.append((self.clock(), cost))
        self._in_window += cost

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
    """One limiter per (provider, account), created on first use with the configured size. The wiring keeps
    one for the engine's lifetime for the limits mailboxes share: a Gmail project's, a Graph app's."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, account: str, capacity: float, window: float) -> RateLimiter:
        with self._lock:
            key = (provider, account)
            if key not in self._limiters:
                self._limiters[key] = RateLimiter(capacity=capacity, window=window, name=provider)
            return self._limiters[key]


class Limiter(Protocol):
    """What a call spends from before it leaves: one RateLimiter, or several at once (LimiterChain)."""

    def acquire(self, cost: float = 1.0) -> None: ...

    def pause(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class LimiterChain:
    """Several limits one call counts against (HubSpot search: the search limit and the ten-second window).

    `acquire` spends from each in order, so a call leaves only when every limit has room; `pause` holds
    them all, as a throttle answer does not always say which limit it was."""

    limiters: tuple[RateLimiter, ...]

    def acquire(self, cost: float = 1.0) -> None:
        acquire_all(self.limiters, cost)

    def pause(self, seconds: float) -> None:
        for limiter in self.limiters:
            limiter.pause(seconds)


def acquire_all(limiters: Sequence[RateLimiter], cost: float = 1.0) -> None:
    """Spend `cost` from every limiter at the same moment, once all have room.

    Spending from one and then waiting for the next would stamp the first too early: the call leaves later
    than the first limiter thinks, and its next calls bunch up behind it inside the provider's window (a
    HubSpot search held by the ten-second window drew SECONDLY 429s that way). Locks are taken in the given
    order; every caller passes shared limiters in the same order, so none waits on another's."""
    for limiter in limiters:
        if cost > limiter.capacity:
            raise ValueError(f"cost {cost} exceeds limiter capacity {limiter.capacity}")
    while True:
        with ExitStack() as held:
            for limiter in limiters:
                held.enter_context(limiter._lock)
            delay, holding = max((limiter._delay_for(cost), index) for index, limiter in enumerate(limiters))
            if delay <= 0:
                for limiter in limiters:
                    limiter._spend(cost)
                return
        holder = limiters[holding]            # the limit with the longest wait: its clock and sleep decide
        if delay > max_wait():
            name = holder.name or next((limiter.name for limiter in limiters if limiter.name), "")
            raise RateLimited(f"{name or 'the provider'} is throttled for {delay:.0f} s more (an earlier 429 said "
                              "so)", retry_after=delay, provider=name or None)
        holder.waited_seconds += delay
        wait_in_call(delay, holder.sleep)


@dataclass(frozen=True)
class SharedLimit:
    """A mailbox's own limit plus one every mailbox of its project or app shares (Gmail's per-project quota,
    Graph's per-app limit): a call leaves only when both have room.

    `acquire` spends from both at the moment both have room (acquire_all). A throttle answer pauses the
    mailbox's own limiter only (`pause`: one user's 429 must not hold the whole team) unless the provider said
    the shared limit was hit (`pause_shared`). Thread-safe, as its limiters are."""

    own: RateLimiter
    shared: RateLimiter

    def acquire(self, cost: float = 1.0) -> None:
        """Block until `cost` fits in both windows (may raise RateLimited during a long pause, as RateLimiter)."""
        acquire_all((self.own, self.shared), cost)

    def pause(self, seconds: float) -> None:
        """Hold this mailbox's calls for `seconds` (its own Retry-After)."""
        self.own.pause(seconds)

    def pause_shared(self, seconds: float) -> None:
        """Hold every mailbox of the project or app for `seconds` (the shared limit was exhausted)."""
        self.shared.pause(seconds)

    @property
    def waited_seconds(self) -> float:
        return self.own.waited_seconds + self.shared.waited_seconds

