"""Provider errors grouped by what the engine must do.

Adapters translate provider-specific signals (HTTP status, error bodies, IMAP
responses) into these at one boundary; the engine and the retry policy catch
them by meaning, never by provider.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base for every error that comes from a provider (CRM or mailbox)."""

    #: Provider name for status and logs ("hubspot", "gmail", "imap", ...).
    provider: str = "provider"

    def __init__(self, message: str, *, provider: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        if provider:
            self.provider = provider
        self.status = status

    @property
    def kind(self) -> str:
        """Short stable name of the error class, shown by `threadline status`."""
        return type(self).__name__


class TransientError(ProviderError):
    """Worth retrying later: 5xx, timeouts, dropped connections."""


class RateLimited(TransientError):
    """The provider throttled us. `retry_after` is in seconds (None if not said). `shared` is true when the
    provider said a limit every mailbox of the project or app shares was hit, not this caller's own."""

    def __init__(self, message: str, *, retry_after: float | None = None, provider: str | None = None,
                 status: int | None = None, shared: bool = False) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after
        self.shared = shared


class MalformedResponse(TransientError):
    """The provider answered 2xx with a body we cannot read: not JSON, a key missing, a value of the wrong type.

    Worth retrying (a proxy that cut the body, a provider bug): the next cycle asks again from the
    stored cursor. Not retried within the call (retry.py). The message names the provider, the
    endpoint and what was wrong, never the body (it may carry customer data or tokens).
    """

    def __init__(self, message: str, *, endpoint: str = "", provider: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, provider=provider, status=status)
        self.endpoint = endpoint


class AuthExpired(ProviderError):
    """Credentials are expired or revoked; refresh failed or is impossible. Needs the admin."""


class CursorExpired(ProviderError):
    """The provider no longer knows our cursor (Gmail 404 history, Graph 410, UIDVALIDITY change)."""


class PermanentError(ProviderError):
    """Retrying will not help (4xx validation errors, missing scopes, unknown objects)."""


class ActivitiesRejected(PermanentError):
    """The provider refused every activity of a create call. `rejected`: key -> the provider's reason; the
    message carries the first reason, so the outbox row, the log and `threadline outbox` say why."""

    def __init__(self, rejected: dict[str, str], *, provider: str, noun: str = "activities") -> None:
        first = next(iter(rejected.values()), "")
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        super().__init__(f"{provider} rejected {len(rejected)} {noun}: {first[:300]}{more}", provider=provider,
                         status=400)
        self.rejected = rejected


class NotFound(PermanentError):
    """The object the request named does not exist (any more)."""
