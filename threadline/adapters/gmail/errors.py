"""The one boundary where Google's signals become threadline errors."""

from __future__ import annotations

import http.client
import json
from typing import Any

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import BatchError, HttpError

from threadline.adapters.answers import malformed
from threadline.adapters.credential_help import CredentialHelp, credentials_refused, refused
from threadline.adapters.errors import (
    AuthExpired,
    NotFound,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from threadline.adapters.gmail.credentials import DEFAULT_SCOPES
from threadline.adapters.network_errors import network_problem, unreachable

PROVIDER = "gmail"
HELP = CredentialHelp(
    PROVIDER, credential="the mailbox's refresh_token (with client_id and client_secret) or its service_account_file",
    renew="`threadline auth gmail ADDRESS`, or a new refresh token from the OAuth client; a service-account key: "
          "Google Cloud console > IAM & Admin > Service accounts > Keys",
    grants=f"the scopes {', '.join(DEFAULT_SCOPES)} (a service account: Google Workspace Admin console > Security "
           "> API controls > Manage domain-wide delegation)")
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"}
#: How oauth2.googleapis.com/token words a jwt-bearer grant whose `sub` the client may not act as (401).
_DELEGATION_REFUSED = "Client is unauthorized to retrieve access tokens"
#: ... and one whose `sub` is no user of the Workspace (400 invalid_grant).
_NOT_A_USER = "Invalid email or User ID"


def translate(exc: BaseException, endpoint: str = "", url: str | None = None) -> ProviderError:
    """Map a googleapiclient/google-auth/transport failure to what the engine must do about it.

    `endpoint` is the Gmail method called ("history.list"). Messages name the status and Google's
    reason only: never tokens, request bodies or answers.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, OSError):      # before the answer checks: ssl.SSLCertVerificationError is a ValueError too
        return _unreachable(exc, url)
    if _unreadable_answer(exc):
        return malformed(PROVIDER, endpoint, exc)
    if isinstance(exc, HttpError):
        return _from_http_error(exc)
    if isinstance(exc, auth_exceptions.RefreshError):
        if getattr(exc, "retryable", False):
            return TransientError("gmail token refresh failed (retryable)", provider=PROVIDER)
        reason = str(exc.args[0] if exc.args else exc)[:160]      # the args' second item repeats it as a dict
        error, description = _token_error(exc)
        if error == "unauthorized_client" and description.startswith(_DELEGATION_REFUSED):
            return AuthExpired(delegation_refused(f"gmail credentials rejected: {reason}"), provider=PROVIDER,
                               status=401)
        if error == "invalid_grant" and description == _NOT_A_USER:
            # PermanentError, not NotFound: history.list turns NotFound into a resync, a batch drops its parts.
            return PermanentError(not_a_user(f"gmail credentials rejected: {reason}"), provider=PROVIDER,
                                  status=400)
        return AuthExpired(credentials_refused(HELP, f"gmail credentials rejected: {reason}"),
                           provider=PROVIDER, status=401)
    # http.client.HTTPException: the connection died mid-answer (IncompleteRead); retry, and reconcile a send.
    if isinstance(exc, (auth_exceptions.TransportError, httplib2.HttpLib2Error, http.client.HTTPException)):
        return _unreachable(exc, url)
    return PermanentError(f"gmail call failed: {type(exc).__name__}", provider=PROVIDER)


def delegation_refused(detail: str) -> str:
    """The message when Google will not let the service account act as the mailbox (unauthorized_client)."""
    return (f"{detail} -- Google refused to let the service account act as this mailbox: its Workspace has not "
            "authorised domain-wide delegation for the service account's client id (client_id in the "
            f"service_account_file) with the scopes {', '.join(DEFAULT_SCOPES)}; a super admin grants them in the "
            "Google Admin console > Security > API controls > Manage domain-wide delegation (it can take a while "
            "to apply)")


def not_a_user(detail: str) -> str:
    """The message when the mailbox address is no user of the Workspace (invalid_grant, Invalid email or User ID)."""
    return (f"{detail} -- the address is not a user of the Google Workspace the service account delegates in "
            "(deleted, renamed, never created, or in another domain): create or restore the user, "
            "correct the owner's email in the CRM, or stop syncing it (the mailbox_sources entry's exclude, or "
            "remove it from mailboxes)")


def _token_error(exc: auth_exceptions.RefreshError) -> tuple[str, str]:
    """The token endpoint's `error` and `error_description` (google-auth keeps its JSON as the second arg)."""
    body = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    return str(body.get("error") or ""), str(body.get("error_description") or "")


def _unreachable(exc: BaseException, url: str | None) -> TransientError:
    """Google not reached, or the connection died mid-answer: retried, named with host and what to do."""
    return TransientError(f"gmail: {(unreachable(exc, url) if url else network_problem(exc))}", provider=PROVIDER)


def _unreadable_answer(exc: BaseException) -> bool:
    """googleapiclient decodes the answer inside execute(): a 2xx it cannot read surfaces as a
    JSONDecodeError/UnicodeDecodeError (ValueError), a batch answer that is not multipart (BatchError
    with a 2xx status) or a batch part missing from it (KeyError)."""
    if isinstance(exc, BatchError):
        return int(getattr(exc.resp, "status", 500) or 500) < 300
    return isinstance(exc, (ValueError, KeyError)) and not isinstance(exc, HttpError)


def _from_http_error(exc: HttpError) -> ProviderError:
    status = int(exc.resp.status)
    errors = _errors(exc.content)
    reasons = {str(e.get("reason")) for e in errors if e.get("reason")}
    detail = f"gmail answered {status} ({', '.join(sorted(reasons)) or 'no reason'})"
    if status == 429 or (status == 403 and reasons & _RATE_REASONS):
        retry_after = exc.resp.get("retry-after")
        seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return RateLimited(detail, retry_after=seconds, provider=PROVIDER, status=status,
                           shared=_project_throttled(errors, reasons))
    if status >= 500 or status == 408:
        return TransientError(detail, provider=PROVIDER, status=status)
    refusal = refused(HELP, status, detail)
    if refusal is not None:
        return refusal
    if status == 404:
        return NotFound(detail, provider=PROVIDER, status=status)
    return PermanentError(detail, provider=PROVIDER, status=status)


def _project_throttled(errors: list[dict[str, Any]], reasons: set[str]) -> bool:
    """Whether a rate-limit answer (its `errors` and their `reasons`) refused the call for the project's quota, not
    the user's: then every mailbox of the project must hold off. The reason alone does not tell: `rateLimitExceeded`
    also comes with a user's limits (its concurrent requests, its sending limit, "Queries per minute per user"), and
    those name the user in the message; `userRateLimitExceeded` always is the user's."""
    said = " ".join(str(e.get("message", "")) for e in errors).lower()
    return "rateLimitExceeded" in reasons and "userRateLimitExceeded" not in reasons and "user" not in said


def _errors(content: bytes | str | None) -> list[dict[str, Any]]:
    try:
        body = json.loads(content or b"{}")
        found = body.get("error", {}).get("errors", [])
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []
    except (ValueError, AttributeError):
        return []

