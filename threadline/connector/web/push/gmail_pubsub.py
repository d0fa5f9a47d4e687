"""Gmail push through Cloud Pub/Sub: verify the push's OIDC token, read which mailbox changed.

Pub/Sub push requests carry `Authorization: Bearer <JWT>` signed by Google for the
subscription's service account and audience; the body's `message.data` is base64 JSON
`{"emailAddress": ..., "historyId": ...}`. Only the mailbox matters: the history id
in the notification is not trusted as a cursor.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as google_exceptions
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class PushRejected(Exception):
    """Not an authentic push for us; the reason is safe to log."""


@dataclass(frozen=True)
class PubSubAuth:
    """What a valid push must carry: our audience and (optionally) the push service account."""

    audience: str
    service_account_email: str | None = None
    certs_url: str = GOOGLE_CERTS_URL


def verify_push(authorization: str | None, auth: PubSubAuth, request: Any | None = None) -> dict[str, Any]:
    """Verify the bearer JWT (signature, expiry, audience, issuer, email); return its claims."""
    if not authorization or not authorization.startswith("Bearer "):
        raise PushRejected("missing bearer token")
    try:
        claims = id_token.verify_token(authorization.removeprefix("Bearer "), request or google_requests.Request(),
                                       audience=auth.audience, certs_url=auth.certs_url)
    except (ValueError, google_exceptions.GoogleAuthError) as exc:
        raise PushRejected(f"token rejected: {type(exc).__name__}") from None
    if claims.get("iss") not in ("https://accounts.google.com", "accounts.google.com"):
        raise PushRejected("unexpected issuer")
    if auth.service_account_email and claims.get("email") != auth.service_account_email:
        raise PushRejected("token is for another service account")
    return dict(claims)


def changed_mailbox(body: bytes) -> str:
    """The mailbox address a Gmail notification names (lower-case)."""
    try:
        message = json.loads(body)["message"]
        data = json.loads(base64.b64decode(message["data"]))
        return str(data["emailAddress"]).lower()
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # RecursionError: deeply nested JSON
        raise PushRejected(f"not a Gmail notification: {type(exc).__name__}") from None
