"""The one retry policy (adapters/retry.py): what spends a call's attempts and what only its time."""

from __future__ import annotations

import json
from collections.abc import Callable

import httplib2
import pytest
from googleapiclient.errors import HttpError

from threadline.adapters import retry
from threadline.adapters.errors import RateLimited, TransientError
from threadline.adapters.gmail.errors import translate
from threadline.adapters.retry import call_with_retry


def failing(errors: list[Exception]) -> tuple[Callable[[], str], list[int]]:
    """A call that raises each of `errors` in turn, then answers "ok"; and a list counting its calls."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return call, calls


def project_throttle() -> RateLimited:
    return RateLimited("gmail answered 429 (rateLimitExceeded)", retry_after=1.0, provider="gmail", shared=True)


def test_the_calls_own_failures_spend_its_attempts() -> None:
    call, calls = failing([TransientError("503")] * 3)
    with pytest.raises(TransientError):
        call_with_retry(call, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3


def test_its_own_throttles_spend_attempts_too() -> None:
    call, calls = failing([RateLimited("429", retry_after=1.0)] * 3)
    with pytest.raises(RateLimited):
        call_with_retry(call, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3


def test_throttles_of_a_shared_limit_do_not_spend_attempts() -> None:
    # A project's quota cleared and the whole team came back at once: this mailbox lost five times by chance.
    slept: list[float] = []
    call, calls = failing([project_throttle()] * 5 + [TransientError("503")])
    assert call_with_retry(call, attempts=2, sleep=slept.append) == "ok"
    assert len(calls) == 7 and slept[:5] == [1.0] * 5      # each wait is the Retry-After the project gave


def test_shared_throttles_are_bounded_by_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "SHARED_THROTTLE_DEADLINE", 3.5)
    slept: list[float] = []
    clock = [0.0]
    monkeypatch.setattr("tenacity.time.monotonic", lambda: clock[0])

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    call, calls = failing([project_throttle()] * 10)
    with pytest.raises(RateLimited) as raised:
        call_with_retry(call, attempts=2, sleep=sleep)
    assert raised.value.shared
    assert len(calls) == 4 and sum(slept) == 3.0           # a fourth wait would have passed 3.5 s


def test_shared_throttles_stop_at_the_attempt_cap_when_no_time_passes() -> None:
    call, calls = failing([RateLimited("429", retry_after=0.0, shared=True)] * 100)
    with pytest.raises(RateLimited):
        call_with_retry(call, attempts=2, sleep=lambda s: None)
    assert len(calls) == retry.SHARED_THROTTLE_ATTEMPTS


def test_a_single_try_is_a_single_try_even_for_a_shared_throttle() -> None:
    call, calls = failing([project_throttle()])
    with pytest.raises(RateLimited):
        call_with_retry(call, attempts=1, sleep=lambda s: None)
    assert len(calls) == 1


def google_refusal(status: int, reason: str, message: str) -> HttpError:
    body = {"error": {"code": status, "message": message,
                      "errors": [{"domain": "usageLimits", "reason": reason, "message": message}]}}
    return HttpError(httplib2.Response({"status": status, "retry-after": "2"}), json.dumps(body).encode())


@pytest.mark.parametrize(("status", "reason", "message", "shared"), [
    (429, "rateLimitExceeded", "Rate Limit Exceeded", True),                       # the project's minute quota
    (403, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of "
                               "service 'gmail.googleapis.com'", True),
    (429, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per "
                               "user' of service 'gmail.googleapis.com'", False),
    (429, "rateLimitExceeded", "Too many concurrent requests for user", False),
    (429, "rateLimitExceeded", "User-rate limit exceeded.  Retry after a few seconds.", False),   # sending limit
    (403, "userRateLimitExceeded", "User Rate Limit Exceeded", False),
])
def test_gmail_names_a_throttle_shared_only_when_it_is_the_projects(status: int, reason: str, message: str,
                                                                    shared: bool) -> None:
    error = translate(google_refusal(status, reason, message), "messages.list", "https://gmail.example")
    assert isinstance(error, RateLimited) and error.retry_after == 2.0
    assert error.shared is shared
