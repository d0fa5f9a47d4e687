"""The one retry policy for provider calls (tenacity).

Retries what is worth retrying (`TransientError`, including `RateLimited`, but not
`MalformedResponse`: a provider that answered a malformed 200 tends to do so again at
once, and the next cycle asks again from the stored cursor anyway),
honours `Retry-After` exactly, backs off exponentially with jitter otherwise,
and gives up after a bounded number of attempts by re-raising the last error
so the engine can record it and move on.

Waits happen inside the call, so they are bounded (fencing.py): a wait longer than `max_wait()`
(a HubSpot DAILY 429, a proxy's long Retry-After) is not slept; the throttle is raised to the caller at
once, after pausing the limiter for the whole stated time so that no other caller hammers the provider.
Shorter waits are slept through `wait_in_call`, which keeps checking a fenced caller's lease.

A throttle of a limit the whole project or app shares (`RateLimited.shared`, Gmail's per-project quota) is
not the caller's failure: when it clears, every mailbox of the project comes back at once and some lose
again by chance. Those retries do not spend the call's attempts (unless it asked for a single try); they are
bounded by time instead
(`SHARED_THROTTLE_DEADLINE`, the deadline google-api-core's own retries use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    nap,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_any,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from threadline.adapters.errors import MalformedResponse, RateLimited, TransientError
from threadline.adapters.fencing import max_wait, wait_in_call
from threadline.adapters.ratelimit import Limiter

T = TypeVar("T")
log = structlog.get_logger("threadline.retry")

_backoff = wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)
SHARED_THROTTLE_DEADLINE = 120.0     # seconds a call keeps retrying throttles of a limit it shares with others
SHARED_THROTTLE_ATTEMPTS = 40        # and at most this many times, should a provider say Retry-After: 0


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return max(0.0, exc.retry_after)
    return float(_backoff(state))


class _OutOfAttempts(stop_base):
    """Stop after `attempts` failures of the call's own; throttles of a shared limit count against the
    deadline instead, unless `attempts` is 1 (the caller asked for one try, no retries).
    One instance per call: tenacity asks it once after each failed attempt."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.own_failures = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if self.attempts > 1 and isinstance(exc, RateLimited) and exc.shared:
            return (retry_state.attempt_number >= SHARED_THROTTLE_ATTEMPTS
                    or (retry_state.seconds_since_start or 0.0) + retry_state.upcoming_sleep > SHARED_THROTTLE_DEADLINE)
        self.own_failures += 1
        return self.own_failures >= self.attempts


class _WaitTooLong(stop_base):
    """Stop instead of sleeping when the next wait is longer than a call may wait (fencing.max_wait)."""

    def __init__(self, on_stop: Callable[[RetryCallState], None]) -> None:
        self.on_stop = on_stop

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.upcoming_sleep <= max_wait():
            return False
        self.on_stop(retry_state)
        return True


def call_with_retry(
    fn: Callable[[], T],
    *,
    limiter: Limiter | None = None,
    attempts: int = 6,
    what: str = "call",
    sleep: Callable[[float], None] | None = None,
    idempotent: bool = True,
) -> T:
    """Run `fn` under the shared policy. Raises the last error when attempts run out, or at once when the
    next wait would be longer than `max_wait()` (may also raise fencing.Fenced from a fenced caller's check).

    On RateLimited the limiter (if given) is paused for Retry-After so that every
    other caller on the same provider account holds off too. A call that is not
    `idempotent` (a create) is retried here only when the provider refused it
    outright (RateLimited); any other failure may have had its effect, so it is
    raised for the caller to reconcile before trying again.
    """

    def pause_limiter(exc: BaseException | None) -> None:
        if isinstance(exc, RateLimited) and limiter is not None and exc.retry_after:
            limiter.pause(exc.retry_after)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        pause_limiter(exc)
        log.warning("provider.retry", what=what, attempt=state.attempt_number, error=type(exc).__name__,
                    detail=str(exc)[:200])

    def handed_back(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        pause_limiter(exc)
        log.warning("provider.throttle_handed_back", what=what, attempt=state.attempt_number,
                    wait=round(state.upcoming_sleep, 1), error=type(exc).__name__)

    base_sleep = sleep if sleep is not None else nap.sleep     # tenacity's own default
    retrying = Retrying(
        retry=(retry_if_exception_type(TransientError if idempotent else RateLimited)
               & retry_if_not_exception_type(MalformedResponse)),
        wait=_wait,
        stop=stop_any(_OutOfAttempts(attempts), _WaitTooLong(handed_back)),
        reraise=True,
        before_sleep=before_sleep,
        sleep=lambda seconds: wait_in_call(seconds, base_sleep),
    )
    return retrying(fn)
