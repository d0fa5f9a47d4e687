"""The one retry policy for provider calls (tenacity).

Retries what is worth retrying (`TransientError`, including `RateLimited`, but not
`MalformedResponse`: a provider that answered a malformed 200 tends to do so again at
once, and the next cycle asks again from the stored cursor anyway),
honours `Retry-After` exactly, backs off exponentially with jitter otherwise,
and gives up after a bounded number of attempts by re-raising the last error
so the engine can record it and move on.
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
    stop_after_attempt,
    wait_exponential_jitter,
)

from threadline.adapters.errors import MalformedResponse, RateLimited, TransientError
from threadline.adapters.ratelimit import RateLimiter

T = TypeVar("T")
log = structlog.get_logger("threadline.retry")

_backoff = wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return max(0.0, exc.retry_after)
    return float(_backoff(state))


def call_with_retry(
    fn: Callable[[], T],
    *,
    limiter: RateLimiter | None = None,
    attempts: int = 6,
    what: str = "call",
    sleep: Callable[[float], None] | None = None,
    idempotent: bool = True,
) -> T:
    """Run `fn` under the shared policy. Raises the last error when attempts run out.

    On RateLimited the limiter (if given) is paused for Retry-After so that every
    other caller on the same provider account holds off too. A call that is not
    `idempotent` (a create) is retried here only when the provider refused it
    outright (RateLimited); any other failure may have had its effect, so it is
    raised for the caller to reconcile before trying again.
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and limiter is not None and exc.retry_after:
            limiter.pause(exc.retry_after)
        log.warning("provider.retry", what=what, attempt=state.attempt_number, error=type(exc).__name__,
                    detail=str(exc)[:200])

    retrying = Retrying(
        retry=(retry_if_exception_type(TransientError if idempotent else RateLimited)
               & retry_if_not_exception_type(MalformedResponse)),
        wait=_wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
        before_sleep=before_sleep,
        sleep=sleep if sleep is not None else nap.sleep,     # tenacity's own default
    )
    return retrying(fn)
