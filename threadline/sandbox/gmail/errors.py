"""Google API error bodies (`{"error": {"code", "message", "errors": [...], "status"}}`)."""

from __future__ import annotations

from typing import Any

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
DEFAULT_REASONS = {400: "invalidArgument", 401: "authError", 403: "forbidden", 404: "notFound",
                   429: "rateLimitExceeded", 500: "backendError", 503: "backendError"}


class GoogleError(Exception):
    """Raised by handlers; becomes a Google-shaped error response."""

    def __init__(self, code: int, message: str, reason: str | None = None, *, domain: str = "global",
                 status: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.domain = code, message, domain
        self.reason = reason or DEFAULT_REASONS.get(code, "backendError")
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.code == 401:
            error.update(location="Authorization", locationType="header")
        return {"error": {"code": self.code, "message": self.message, "errors": [error], "status": self.status}}


def unauthenticated() -> GoogleError:
    """What Google answers for a missing, invalid or expired access token."""
    return GoogleError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                       "login cookie or other valid authentication credential. See "
                       "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                       "authError", status="UNAUTHENTICATED")


def rate_limited(retry_after: int) -> GoogleError:
    """Gmail's per-user quota answer (429, usageLimits/userRateLimitExceeded: Gmail "Usage limits" names this
    reason for the per-user limit) with Retry-After."""
    return GoogleError(429, "User-rate limit exceeded.  Retry after a few seconds.", "userRateLimitExceeded",
                       domain="usageLimits", headers={"Retry-After": str(retry_after)})


def project_rate_limited(retry_after: int) -> GoogleError:
    """Gmail's per-project quota answer (429, usageLimits/rateLimitExceeded) with Retry-After: every user of
    the project is refused until the minute's units free up."""
    return GoogleError(429, "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits",
                       headers={"Retry-After": str(retry_after)})


def not_found(message: str = "Requested entity was not found.") -> GoogleError:
    return GoogleError(404, message, "notFound", status="NOT_FOUND")


def invalid(message: str) -> GoogleError:
    return GoogleError(400, message, "invalidArgument", status="INVALID_ARGUMENT")


def conflict(message: str) -> GoogleError:
    """409, as labels.create answers for a name that is taken."""
    return GoogleError(409, message, "duplicate", status="ALREADY_EXISTS")
