"""Fencing: a provider call made for work this replica can lose checks, right before each request leaves and
while it waits inside the call, that the work is still its own.

The engine leases outbox rows; a replica that stalls (a long throttle, GC, SIGSTOP) can lose its lease to
another replica, which then looks the effect up by key and performs it. From then on the first replica must
not touch the provider for that work. The executor opens `fenced(fence)` around its provider calls; the
shared HTTP layer calls `check_fence()` right before every request, and every wait inside a call (the retry
back-off, a limiter pause) goes through `wait_in_call`, which sleeps in slices and checks the fence after
each (a check renews the lease, so a live replica keeps its work through a wait it is allowed).

A wait longer than `max_wait()` is not slept inside the call at all: the throttle goes back to the caller,
which parks the work until the stated time (engine) instead of holding a thread and a lease for an hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

#: Without a fence, the longest one provider call waits (retry back-off, a limiter pause) before a throttle
#: is handed back to its caller. A HubSpot DAILY 429 asks for an hour; no thread sleeps that long.
DEFAULT_MAX_WAIT = 60.0
#: A wait inside a call is slept in slices of at most this long, with a fence check after each.
WAIT_SLICE = 5.0


class Fenced(Exception):  # noqa: N818 - not an error of the provider: the work moved to another replica
    """The work this call was made for is no longer this replica's: nothing more was sent for it."""


class Fence(Protocol):
    """What a provider call checks while it works for a leased unit of work."""

    #: Seconds a wait inside the call may last; a longer one goes back to the caller (see module doc).
    max_wait: float

    def check(self) -> None:
        """Raise Fenced unless the work is still this replica's; extends the hold on it when it is."""


_current: ContextVar[Fence | None] = ContextVar("threadline_fence", default=None)


@contextmanager
def fenced(fence: Fence) -> Iterator[None]:
    """Make provider calls in this block (this thread, this context) check `fence`."""
    token = _current.set(fence)
    try:
        yield
    finally:
        _current.reset(token)


def check_fence() -> None:
    """Raise Fenced when the current work is no longer ours (no-op outside `fenced`). Call right before a
    request that has an effect leaves."""
    fence = _current.get()
    if fence is not None:
        fence.check()


def max_wait() -> float:
    """The longest wait allowed inside the current provider call, in seconds."""
    fence = _current.get()
    return DEFAULT_MAX_WAIT if fence is None else fence.max_wait


def wait_in_call(seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep `seconds` inside a provider call, in slices, checking the fence after each (may raise Fenced)."""
    fence = _current.get()
    if fence is None:
        sleep(seconds)
        return
    left = seconds
    while left > 0:
        step = min(WAIT_SLICE, left)
        sleep(step)
        left -= step
        fence.check()
