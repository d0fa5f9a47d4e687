"""JSON-over-HTTP calls for httpx-based adapters: limiter, retries and error translation in one place.

An adapter declares *what* it calls; `JsonApi` owns *how*: acquire from the
limiter, send, translate failures into `ProviderError`s, retry under the shared
policy. The `httpx.Client` comes from outside (tests aim it at the sandbox).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

from threadline.adapters.errors import (
    AuthExpired,
    NotFound,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from threadline.adapters.fencing import check_fence
from threadline.adapters.network_errors import unreachable
from threadline.adapters.observe import observed
from threadline.adapters.ratelimit import Limiter, RateLimiter
from threadline.adapters.retry import call_with_retry

Translate = Callable[[httpx.Response], ProviderError | None]


class BudgetHook(Protocol):
    """Follows a daily API budget (adapters/daily_budget.py): sees every answer, and may refine a refusal."""

    def before_call(self) -> None: ...

    def observe(self, response: httpx.Response) -> None: ...

    def refine(self, error: ProviderError, response: httpx.Response) -> ProviderError: ...


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse a Retry-After header given in seconds (HTTP-date forms are treated as unknown)."""
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate_status(response: httpx.Response, provider: str) -> ProviderError | None:
    """Default mapping of HTTP status to error meaning; adapters refine it with the provider's body."""
    status = response.status_code
    if status < 400:
        return None
    text = response.text[:300]
    if status == 429:
        return RateLimited(f"{provider} throttled: {text}", retry_after=retry_after_seconds(response),
                           provider=provider, status=status)
    if status >= 500 or status == 408:
        return TransientError(f"{provider} answered {status}: {text}", provider=provider, status=status)
    if status == 401:
        return AuthExpired(f"{provider} rejected the credentials (401): {text}", provider=provider, status=status)
    if status == 404:
        return NotFound(f"{provider} answered 404: {text}", provider=provider, status=status)
    return PermanentError(f"{provider} answered {status}: {text}", provider=provider, status=status)


class JsonApi:
    """Send requests to one provider account through its limiter and the shared retry policy."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        provider: str,
        limiter: RateLimiter | None = None,
        translate: Translate | None = None,
        attempts: int = 6,
        on_response: Callable[[httpx.Response], None] | None = None,
        account: str = "",
        operation: str = "call",
        budget: BudgetHook | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.account = account            # the mailbox address ("" for a CRM): labels observed calls
        self.operation = operation
        self.limiter = limiter
        self.attempts = attempts
        self._translate = translate or (lambda r: translate_status(r, provider))
        self._on_response = on_response
        self.budget = budget          # the account's daily budget: fed every answer, sets a daily refusal's wait
        self.calls = 0
        #: "METHOD /path" of the last answer received (no host, no query): names it in MalformedResponse.
        self.last_endpoint = ""

    def request(self, method: str, url: str, *, cost: float = 1.0, limiter: Limiter | None = None,
                idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """Send one request (retried as the policy allows); returns a 2xx/3xx response or raises ProviderError.

        Pass `idempotent=False` for creates: then only an outright refusal (429) is
        retried here, and an ambiguous failure (timeout, dropped connection, 5xx) is
        raised so the caller can look for the effect before trying again.
        """
        use = limiter or self.limiter
        return call_with_retry(lambda: self._once(method, url, cost, use, kwargs), limiter=use,
                               attempts=self.attempts, what=f"{self.provider} {method} {url.split('?')[0]}",
                               idempotent=idempotent)

    def _once(self, method: str, url: str, cost: float, limiter: Limiter | None,
              kwargs: dict[str, Any]) -> httpx.Response:
        if self.budget is not None:
            self.budget.before_call()      # bulk work stops at the daily reserve (may raise ReserveReached)
        if limiter is not None:
            limiter.acquire(cost)
        check_fence()          # last moment before the request leaves: the work must still be ours
        self.calls += 1
        with observed(self.provider, self.account, self.operation):
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                where = self.client.base_url.join(url) if self.client.base_url else httpx.URL(url)
                raise TransientError(f"{self.provider} {method} {url.split('?')[0]}: {unreachable(exc, where)}",
                                     provider=self.provider) from exc
            self.last_endpoint = f"{method} {response.request.url.path}"
            if self._on_response is not None:
                self._on_response(response)
            if self.budget is not None:
                self.budget.observe(response)
            error = self._translate(response)
            if error is not None:
                raise error if self.budget is None else self.budget.refine(error, response)
            return response
