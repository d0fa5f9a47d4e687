"""The one boundary where Graph's and MSAL's signals become threadline errors.

Messages name the HTTP status and Graph's error code only: never tokens, secrets or bodies we sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx

from threadline.adapters.credential_help import CredentialHelp, credentials_refused, refused
from threadline.adapters.errors import (
    AuthExpired,
    CursorExpired,
    PermanentError,
    ProviderError,
    RateLimited,
    TransientError,
)
from threadline.adapters.http import retry_after_seconds, translate_status

PROVIDER = "outlook"
#: The Graph permissions the adapter uses (delegated scopes, or the same names as application permissions).
MAIL_PERMISSIONS = ("Mail.Read", "Mail.Send")
HELP = CredentialHelp(
    PROVIDER, credential="the app registration's client_secret (or the rep's delegated sign-in)",
    renew="Microsoft Entra admin center > App registrations > the app > Certificates & secrets > New client secret; "
          "delegated: `threadline auth outlook ADDRESS`",
    grants=f"the app the Microsoft Graph permissions {' and '.join(MAIL_PERMISSIONS)} with admin consent (App "
           "registrations > the app > API permissions), and an application access policy that includes the mailbox")
#: Graph's answer (404) for a directory user with no Exchange Online mailbox: no licence, inactive,
#: soft-deleted or hosted on-premises. Not transient (no retry within the call); the engine pulls the mailbox
#: again at the next poll, so it syncs once an admin gave it a mailbox.
NO_MAILBOX = "MailboxNotEnabledForRESTAPI"
_USER_IN_PATH = re.compile(r"/users/([^/?]+)")
#: MSAL/AADSTS errors that only an admin or a new sign-in can fix.
_AUTH_ERRORS = {"invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope", "interaction_required",
                "consent_required", "invalid_request", "expired_token", "access_denied"}


def graph_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def translate(response: httpx.Response) -> ProviderError | None:
    """Map a Graph response to what the engine must do: 410 cursor gone, 429 wait, 401 re-auth, ..."""
    status = response.status_code
    if status < 400:
        return None
    code = graph_code(response)
    detail = f"graph answered {status} ({code or 'no code'})"
    if status == 410 or code in ("SyncStateNotFound", "resyncRequired", "SyncStateInvalid"):
        return CursorExpired(detail, provider=PROVIDER, status=status)
    if status == 429:
        return RateLimited(detail, retry_after=retry_after_seconds(response), provider=PROVIDER, status=status)
    if code == NO_MAILBOX:
        # PermanentError, not NotFound: a $batch leaves NotFound parts out as deleted messages.
        return PermanentError(no_mailbox(detail, _user_of(response)), provider=PROVIDER, status=status)
    refusal = refused(HELP, status, detail)
    if refusal is not None:
        return refusal
    error = translate_status(response, PROVIDER)
    if error is not None:
        error.args = (detail,)
    return error


def no_mailbox(detail: str, user: str = "") -> str:
    """The message for MailboxNotEnabledForRESTAPI: what it means and what the admin can do."""
    who = f"mailbox {user}" if user else "the mailbox"
    return (f"{detail} -- {who} has no Exchange Online mailbox (inactive, soft-deleted or hosted on-premises): "
            "give the user an Exchange Online licence (Microsoft 365 admin center > Users > Licenses), or stop "
            "syncing it (add it to the mailbox_sources entry's exclude, or remove it from mailboxes)")


def _user_of(response: httpx.Response) -> str:
    """The user a `/users/{id}/...` request named ("" when the response has no request: a $batch part)."""
    try:
        path = response.request.url.path
    except RuntimeError:
        return ""
    found = _USER_IN_PATH.search(path)
    return unquote(found.group(1)) if found else ""


def from_batch_item(item: dict[str, Any]) -> ProviderError | None:
    """The same mapping for one response inside a `$batch` answer."""
    status = int(item.get("status", 500))
    if status < 400:
        return None
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body") if isinstance(item.get("body"), dict) else {}
    return translate(httpx.Response(status, headers=headers, json=body))


def from_msal(result: dict[str, Any] | None) -> ProviderError:
    """An MSAL result without an access token, as an error (the description keeps AADSTS codes, no secrets)."""
    if not result:
        return AuthExpired("no usable token in the cache; sign in again (threadline auth outlook ADDRESS)", provider=PROVIDER)
    error = str(result.get("error", "unknown"))
    description = str(result.get("error_description", "")).split(" Trace ID:")[0][:200]
    if error in _AUTH_ERRORS:
        return AuthExpired(credentials_refused(HELP, f"identity platform refused: {error}: {description}"),
                           provider=PROVIDER, status=400)
    if error in ("temporarily_unavailable", "server_error"):
        return TransientError(f"identity platform unavailable: {error}", provider=PROVIDER)
    return PermanentError(f"identity platform error: {error}: {description}", provider=PROVIDER)
