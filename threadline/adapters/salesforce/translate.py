"""Salesforce's error signals translated into Threadline's error classes (the adapter's one boundary).

REST errors are arrays of `{"errorCode", "message", "fields"}`:

* `INVALID_SESSION_ID` (401) -> AuthExpired; the API wrapper refreshes once before giving up.
* `REQUEST_LIMIT_EXCEEDED` (403) -> ApiLimitExceeded: the org's rolling 24-hour allocation is
  spent, so retrying within seconds (the shared policy's backoff) only burns more refusals.
  It is a ProviderError, not a TransientError, so the policy raises it at once and the
  engine retries the work unit later; `retry_after` (an hour) says how much later. It is not a
  RateLimited on purpose: that would hold every call (reply logging too) for the whole hour,
  while a rolling window frees calls continuously as the oldest leave it.
* `MALFORMED_QUERY`, `INVALID_FIELD`, other 4xx -> PermanentError (InvalidField names the fields).
* 5xx, `SERVER_UNAVAILABLE`, `UNABLE_TO_LOCK_ROW` -> TransientError.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from threadline.adapters.credential_help import CredentialHelp, credentials_refused, refused
from threadline.adapters.errors import (
    AuthExpired,
    NotFound,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from threadline.adapters.http import retry_after_seconds

PROVIDER = "salesforce"
HELP = CredentialHelp(
    PROVIDER, credential="the connected-app sign-in (crm.refresh_token with crm.client_secret, or crm.username with "
                         "crm.private_key_file for JWT)",
    renew="a new refresh token from the OAuth web-server flow for the integration user; for JWT, Setup > App Manager "
          "> the app > Manage > Edit Policies: 'Admin approved users are pre-authorized', and add the integration "
          "user's profile",
    grants="the integration user's profile or permission set API Enabled and Read/Edit on Contact, Lead, Task and "
           "Threadline's fields, and the connected app the scopes api and refresh_token")
LIMIT_RETRY_SECONDS = 3600.0
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
TRANSIENT_CODES = {"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG"}


class ApiLimitExceeded(ProviderError):
    """The org's daily API allocation is spent (REQUEST_LIMIT_EXCEEDED). Retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = LIMIT_RETRY_SECONDS, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InvalidField(PermanentError):
    """Salesforce named a field it does not have (INVALID_FIELD): usually a custom field nobody created."""

    def __init__(self, message: str, *, fields: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.fields = fields


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """(used, limit) from `Sforce-Limit-Info: api-usage=18/5000`, or None."""
    match = _USAGE.search(header or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def daily_allocation(response: httpx.Response) -> tuple[int, int] | None:
    """(limit, remaining) of the org's daily API requests from a response's Sforce-Limit-Info, or None."""
    usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
    return None if usage is None else (usage[1], max(0, usage[1] - usage[0]))


def is_daily_refusal(error: ProviderError, _response: httpx.Response) -> bool:
    """REQUEST_LIMIT_EXCEEDED: the org's daily allocation is spent."""
    return isinstance(error, ApiLimitExceeded)


def first_error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0]
    return body if isinstance(body, dict) else {}


def translate(response: httpx.Response) -> ProviderError | None:
    """None for success; otherwise the error meaning the engine acts on. Never includes credentials."""
    status = response.status_code
    if status < 400:
        return None
    error = first_error(response)
    code = str(error.get("errorCode") or error.get("error") or "")
    what = f"salesforce {status} {code}: {error.get('message') or error.get('error_description') or ''}"[:300]
    kw: dict[str, Any] = {"provider": PROVIDER, "status": status}
    if code == "REQUEST_LIMIT_EXCEEDED":
        return ApiLimitExceeded(what, **kw)
    if status >= 500 or status == 408 or code in TRANSIENT_CODES:
        return TransientError(what, **kw)
    refusal = refused(HELP, 401 if code == "INVALID_SESSION_ID" else status, what)
    if refusal is not None:
        return refusal
    if code == "INVALID_FIELD":
        return InvalidField(what, fields=list(error.get("fields") or []), **kw)
    if status == 404 or code in ("NOT_FOUND", "ENTITY_IS_DELETED"):
        return NotFound(what, **kw)
    return PermanentError(what, **kw)


def translate_token(response: httpx.Response) -> ProviderError | None:
    """The token endpoint: OAuth errors (`invalid_grant`, `invalid_client_id`) mean the admin must act."""
    status = response.status_code
    if status < 400:
        return None
    if status >= 500 or status == 408:
        return TransientError(f"salesforce token endpoint answered {status}", provider=PROVIDER, status=status)
    error = first_error(response)
    # Refused for load, not for the credentials: retry later, and do not tell the admin to reauthorize.
    if status == 429:
        return RateLimited(f"salesforce token endpoint answered {status}", retry_after=retry_after_seconds(response),
                           provider=PROVIDER, status=status)
    if error.get("errorCode") == "REQUEST_LIMIT_EXCEEDED":
        return translate(response)
    detail = f"salesforce refused the token request: {error.get('error', status)}: " \
             f"{error.get('error_description', '')}"[:300]
    return AuthExpired(credentials_refused(HELP, detail), provider=PROVIDER, status=status)
