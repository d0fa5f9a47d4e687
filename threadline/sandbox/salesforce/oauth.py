"""`POST /services/oauth2/token`: the JWT bearer flow and the refresh-token flow.

JWT bearer: an RS256 assertion with `iss` = a connected app's consumer key,
`sub` = an org user's username, `aud` = the login URL (login/test.salesforce.com
or the sandbox's own URL), `exp` in the future; the signature is verified
against the certificate registered for the app. Both flows answer with
`access_token`, `instance_url` (= this sandbox), `id`, `token_type`,
`issued_at` and `signature`; errors come as `{"error", "error_description"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from threadline.sandbox.salesforce.ids import ORG_ID
from threadline.sandbox.salesforce.responses import oauth_error
from threadline.sandbox.settings import SandboxSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_URLS = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class ConnectedApp:
    """A connected app as the org knows it: consumer key/secret and the certificate (or public key) for JWTs."""

    consumer_key: str
    consumer_secret: str
    certificate_pem: bytes

    def public_key(self) -> Any:
        if b"BEGIN CERTIFICATE" in self.certificate_pem:
            return x509.load_pem_x509_certificate(self.certificate_pem).public_key()
        return serialization.load_pem_public_key(self.certificate_pem)


def new_key_pair() -> tuple[bytes, bytes]:
    """(private key PEM, public key PEM): an RSA key for a connected app's JWT bearer flow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class OAuthServer:
    """Connected apps, refresh tokens and issued sessions of the org; thread-safe."""

    def __init__(self, settings: SandboxSettings, user_id_of: Callable[[str], str | None]) -> None:
        self.settings = settings
        self.user_id_of = user_id_of
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.apps: dict[str, ConnectedApp] = {}
            self.refresh_tokens: dict[str, tuple[str, str]] = {}   # token -> (consumer key, username)
            self.sessions: dict[str, float] = {}                   # access token -> expiry (epoch s)

    def register_app(self, app: ConnectedApp) -> None:
        with self._lock:
            self.apps[app.consumer_key] = app

    def issue_refresh_token(self, consumer_key: str, username: str, token: str | None = None) -> str:
        """A refresh token as the web-server flow would have handed to `consumer_key` for `username`."""
        token = token or f"5Aep861{secrets.token_urlsafe(40)}"
        with self._lock:
            self.refresh_tokens[token] = (consumer_key, username)
        return token

    def accepts(self, token: str) -> bool:
        with self._lock:
            return token == self.settings.salesforce_access_token or self.sessions.get(token, 0) > time.time()

    def expire_sessions(self) -> None:
        """Every issued access token becomes invalid (as after a session timeout)."""
        with self._lock:
            self.sessions.clear()

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        base = str(request.base_url).rstrip("/")
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            return self._jwt(form.get("assertion", ""), base)
        if grant == "refresh_token":
            return self._refresh(form, base)
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt(self, assertion: str, base: str) -> Response:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        app = self.apps.get(str(claims.get("iss")))
        if app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        try:
            jwt.decode(assertion, app.public_key(), algorithms=["RS256"], audience=[*LOGIN_URLS, base],
                       options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            return oauth_error("invalid_grant", "expired authorization code")
        except jwt.InvalidAudienceError:
            return oauth_error("invalid_grant", "audience is invalid")
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        user_id = self.user_id_of(str(claims.get("sub")))
        if user_id is None:
            return oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._session(app, user_id, base)

    def _refresh(self, form: dict[str, str], base: str) -> Response:
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if "client_secret" in form and not hmac.compare_digest(form["client_secret"], app.consumer_secret):
            return oauth_error("invalid_client", "invalid client credentials")
        owner = self.refresh_tokens.get(form.get("refresh_token", ""))
        user_id = self.user_id_of(owner[1]) if owner and owner[0] == app.consumer_key else None
        if user_id is None:
            return oauth_error("invalid_grant", "expired access/refresh token")
        return self._session(app, user_id, base)

    def _session(self, app: ConnectedApp, user_id: str, base: str) -> Response:
        access = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        issued = str(int(time.time() * 1000))
        identity = f"{base}/id/{ORG_ID}/{user_id}"
        digest = hmac.new(app.consumer_secret.encode(), (identity + issued).encode(), hashlib.sha256).digest()
        with self._lock:
            self.sessions[access] = time.time() + self.settings.token_ttl_seconds
        return JSONResponse({"access_token": access, "signature": base64.b64encode(digest).decode(),
                             "scope": "api refresh_token", "instance_url": base, "id": identity,
                             "token_type": "Bearer", "issued_at": issued})
