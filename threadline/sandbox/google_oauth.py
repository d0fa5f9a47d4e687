"""Google's OAuth 2.0 token endpoint (`POST /token`), shared by every simulated Google API.

Three grants, as `oauth2.googleapis.com/token` answers them:

* `authorization_code` (web/installed apps, after the consent page of google_sign_in.py): the
  code once, within ten minutes, with the authorization request's redirect_uri and PKCE verifier;
  a refresh token when access_type was offline, an id_token for the OpenID scopes;
* `refresh_token`: client id + secret + a refresh token we issued;
* `urn:ietf:params:oauth:grant-type:jwt-bearer` (service accounts with domain-wide
  delegation): an RS256 assertion signed by a registered service-account key,
  `sub` naming the impersonated user. Every address is a Workspace user whose admin delegated the
  account's scopes, unless a test said otherwise: `refuse_delegation(address)` (401 `unauthorized_client`,
  as when that user's Workspace has not authorised the client id) or `remove_user(address)` (400
  `invalid_grant` "Invalid email or User ID", a `sub` that is no user of the Workspace).

The client authenticates in the form or with HTTP Basic (client_secret_basic). `POST /revoke`
(`oauth2.googleapis.com/revoke`) revokes a refresh token, or the grant behind an access token.
Access tokens are opaque, bound to one user and a set of scopes, and expire after
`settings.token_ttl_seconds`. Errors use the OAuth shape
(`{"error": "invalid_grant", "error_description": ...}`).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.auth_codes import AuthCode, AuthCodes, CodeProblem, CodeRejected
from threadline.sandbox.base import SandboxContext, form_fields
from threadline.sandbox.redirect_uris import RedirectUris
from threadline.sandbox.settings import SandboxSettings

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_USER = "rep@example.com"          # whose mailbox the settings' refresh token opens
GMAIL_SCOPES = (
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.metadata",
    "https://www.googleapis.com/auth/gmail.labels",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.insert",
    "https://www.googleapis.com/auth/gmail.compose",
)
OPENID_SCOPES = (                         # the sign-in scopes; any of them brings an id_token
    "openid", "email", "profile",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
SIGN_IN_SCOPES = frozenset(GMAIL_SCOPES + OPENID_SCOPES)   # what the consent page can grant
MAX_ASSERTION_LIFETIME = 3600             # Google rejects assertions valid for more than an hour
# What oauth2.googleapis.com/token says about a code it will not exchange.
CODE_ERRORS = {
    CodeProblem.UNKNOWN: ("invalid_grant", "Malformed auth code."),
    CodeProblem.EXPIRED: ("invalid_grant", "Bad Request"),
    CodeProblem.REDEEMED: ("invalid_grant", "Bad Request"),
    CodeProblem.REDIRECT_URI: ("redirect_uri_mismatch", "Bad Request"),
    CodeProblem.VERIFIER_MISSING: ("invalid_grant", "Missing code verifier."),
    CodeProblem.VERIFIER_WRONG: ("invalid_grant", "Invalid code verifier."),
}


@dataclass(frozen=True)
class Grant:
    """What an access token stands for."""

    user: str | None                      # None: a service account acting as itself (no mailbox)
    scopes: frozenset[str]
    expires_at: float
    refresh_token: str | None = None


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    scopes: frozenset[str]                 # scopes the domain admin delegated to this client


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _basic_client(authorization: str | None) -> dict[str, str]:
    """client_id and client_secret from `Authorization: Basic` (client_secret_basic, RFC 6749 2.3.1)."""
    if not authorization or not authorization.lower().startswith("basic "):
        return {}
    try:
        client_id, _, secret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except ValueError:
        return {}
    return {"client_id": unquote(client_id.replace("+", " ")), "client_secret": unquote(secret.replace("+", " "))}


@dataclass
class GoogleOAuth:
    """Issues and checks Google access tokens. Thread-safe; `reset()` forgets everything issued."""

    settings: SandboxSettings
    ctx: SandboxContext
    clock: Callable[[], float] = time.time
    _tokens: dict[str, Grant] = field(default_factory=dict, init=False)
    _refresh_tokens: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict, init=False)
    _service_accounts: dict[str, ServiceAccount] = field(default_factory=dict, init=False)
    _refused_subjects: set[str] = field(default_factory=set, init=False)     # lower-case addresses
    _removed_users: set[str] = field(default_factory=set, init=False)        # lower-case addresses
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # Signs an id_token for (audience, email) with Google's key at /oauth2/v1/certs (the sandbox wires Pub/Sub's).
    id_token_signer: Callable[[str, str], str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.codes = AuthCodes(self.clock)
        self.redirect_uris = RedirectUris(allow_loopback=self.settings.oauth_loopback_redirects)
        self.reset()

    def reset(self) -> None:
        """Forget every token, code, service account, refused delegation, removed user and registered redirect
        URI; the settings' refresh token and redirect URIs work again."""
        with self._lock:
            self._tokens.clear()
            self._service_accounts.clear()
            self._refused_subjects.clear()
            self._removed_users.clear()
            self._refresh_tokens.clear()
            self._refresh_tokens[self.settings.google_refresh_token] = (DEFAULT_USER, frozenset(GMAIL_SCOPES))
        self.codes.clear()
        self.redirect_uris.clear()
        self.redirect_uris.register_all(self.settings.google_client_id, self.settings.google_redirect_uris)

    def routes(self) -> list[BaseRoute]:
        return [Route("/token", self._token_endpoint, methods=["POST"]),
                Route("/revoke", self._revoke_endpoint, methods=["POST"])]

    # -- Python-side helpers for tests, demo and benchmarks -------------------------------

    def issue_refresh_token(self, user: str, scopes: tuple[str, ...] = GMAIL_SCOPES, token: str | None = None) -> str:
        """A refresh token (for the settings' client id/secret) that opens `user`'s mailbox: new, or `token`
        (so `threadline sandbox --seed` prints the same credentials on every start)."""
        token = token or "1//sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = (user, frozenset(scopes))
        return token

    def register_redirect_uri(self, client_id: str, uri: str) -> None:
        """Register `uri` (exact match) as a redirect URI of `client_id`, as in the Cloud Console."""
        self.redirect_uris.register(client_id, uri)

    def is_client(self, client_id: str) -> bool:
        """Whether `client_id` is an OAuth client the sandbox knows (the settings' one)."""
        return client_id == self.settings.google_client_id

    def issue_auth_code(self, user: str, scopes: tuple[str, ...] = GMAIL_SCOPES, *, client_id: str | None = None,
                        redirect_uri: str | None = None, code_challenge: str | None = None,
                        challenge_method: str = "S256", offline: bool = True) -> str:
        """What the consent page redirects with after `user` allowed `scopes`: a code valid once, for ten
        minutes, at /token with the same redirect_uri and (if a challenge was given) the PKCE verifier."""
        code = AuthCode(client_id or self.settings.google_client_id, user, frozenset(scopes), redirect_uri,
                        code_challenge, challenge_method, offline=offline)
        return self.codes.issue(code, "4/0sandbox-")

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """Revoke a refresh token and every access token minted from it (as Google does)."""
        with self._lock:
            self._refresh_tokens.pop(refresh_token, None)
            for token in [t for t, g in self._tokens.items() if g.refresh_token == refresh_token]:
                del self._tokens[token]

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid now (clients must refresh)."""
        with self._lock:
            self._tokens.clear()

    def register_service_account(self, base_url: str, email: str | None = None,
                                 scopes: tuple[str, ...] = GMAIL_SCOPES) -> dict[str, Any]:
        """Generate a key pair and return a service-account JSON whose `token_uri` is this sandbox.

        `scopes` are the scopes delegated domain-wide to the account's client id.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = email or f"sandbox-{secrets.token_hex(4)}@threadline-sandbox.iam.gserviceaccount.com"
        key_id = secrets.token_hex(20)
        client_id = str(100000000000000000000 + secrets.randbelow(10**20))
        with self._lock:
            self._service_accounts[email] = ServiceAccount(email, key_id, key.public_key(), frozenset(scopes))
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {
            "type": "service_account", "project_id": "threadline-sandbox", "private_key_id": key_id,
            "private_key": pem, "client_email": email, "client_id": client_id,
            "auth_uri": f"{base_url}/o/oauth2/auth", "token_uri": f"{base_url}/token",
            "auth_provider_x509_cert_url": f"{base_url}/oauth2/v1/certs",
            "client_x509_cert_url": f"{base_url}/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    def refuse_delegation(self, address: str) -> None:
        """From now on a service account may not act as `address`: its jwt-bearer grant with `sub` = `address`
        answers 401 `unauthorized_client`, as Google does when the user's Workspace admin has not authorised
        the client id (Admin console > Security > API controls > Domain-wide delegation) for the scopes."""
        with self._lock:
            self._refused_subjects.add(address.lower())

    def allow_delegation(self, address: str) -> None:
        """Undo `refuse_delegation`: the admin authorised the client id; the next grant for `address` works."""
        with self._lock:
            self._refused_subjects.discard(address.lower())

    def remove_user(self, address: str) -> None:
        """`address` is no user of the Workspace (deleted, never created, another domain): a jwt-bearer grant
        with it as `sub` answers 400 `invalid_grant` "Invalid email or User ID". Its tokens stop working."""
        with self._lock:
            self._removed_users.add(address.lower())
            for token in [t for t, g in self._tokens.items() if g.user and g.user.lower() == address.lower()]:
                del self._tokens[token]

    # -- what API handlers call -------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Grant | None:
        """The grant behind an `Authorization: Bearer ...` header, or None if missing/invalid/expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        with self._lock:
            grant = self._tokens.get(token)
            if grant is not None and grant.expires_at <= self.clock():
                del self._tokens[token]
                return None
        return grant

    # -- the endpoint ---------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> Response:
        # Parsed by hand: Starlette's request.form() would need python-multipart for a urlencoded body.
        form = await form_fields(request)
        form.update(_basic_client(request.headers.get("authorization")))
        self.ctx.stats.record("google-oauth", "token")
        try:
            if form.get("grant_type") == "refresh_token":
                body = self._refresh_grant(form)
            elif form.get("grant_type") == "authorization_code":
                body = self._code_grant(form)
            elif form.get("grant_type") == JWT_BEARER:
                body = self._jwt_grant(form.get("assertion", ""))
            else:
                raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)
        return JSONResponse(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    async def _revoke_endpoint(self, request: Request) -> Response:
        form = await form_fields(request)
        self.ctx.stats.record("google-oauth", "revoke")
        if not self._revoke(request.query_params.get("token") or form.get("token", "")):
            return JSONResponse({"error": "invalid_token", "error_description": "Token expired or revoked"}, 400)
        return JSONResponse({})

    def _revoke(self, token: str) -> bool:
        """Revoke a refresh token, or the grant an access token came from (its refresh token too)."""
        with self._lock:
            grant = self._tokens.pop(token, None)
            known = token in self._refresh_tokens
        refresh = token if known else grant.refresh_token if grant else None
        if refresh is not None:
            self.revoke_refresh_token(refresh)
        return known or grant is not None

    def _code_grant(self, form: dict[str, str]) -> dict[str, Any]:
        if not self.is_client(form.get("client_id", "")):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != self.settings.google_client_secret:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        try:
            code = self.codes.redeem(form.get("code", ""), form["client_id"], form.get("redirect_uri"),
                                     form.get("code_verifier"))
        except CodeRejected as exc:
            raise OAuthError(400, *CODE_ERRORS[exc.problem]) from exc
        refresh = self.issue_refresh_token(code.user, tuple(sorted(code.scopes))) if code.offline else None
        body = self._issue(Grant(code.user, code.scopes, 0.0, refresh))
        if refresh is not None:
            body["refresh_token"] = refresh
        if code.scopes & set(OPENID_SCOPES) and self.id_token_signer is not None:   # RS256, key at /oauth2/v1/certs
            body["id_token"] = self.id_token_signer(code.client_id, code.user)
        return body

    def _refresh_grant(self, form: dict[str, str]) -> dict[str, Any]:
        if (form.get("client_id") != self.settings.google_client_id
                or form.get("client_secret") != self.settings.google_client_secret):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        with self._lock:
            owner = self._refresh_tokens.get(form.get("refresh_token", ""))
        if owner is None:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        user, granted = owner
        requested = frozenset(form["scope"].split()) if form.get("scope") else granted
        if not requested <= granted:
            raise OAuthError(400, "invalid_scope", "Some requested scopes were invalid.")
        return self._issue(Grant(user, requested, 0.0, form["refresh_token"]))

    def _jwt_grant(self, assertion: str) -> dict[str, Any]:
        claims = self._verified_claims(assertion)
        account = self._service_accounts[claims["iss"]]
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = str(claims.get("sub") or "")
        with self._lock:
            removed, refused = subject.lower() in self._removed_users, subject.lower() in self._refused_subjects
        if removed:          # Google finds the user (and so its Workspace) before it looks at the delegation
            raise OAuthError(400, "invalid_grant", "Invalid email or User ID")
        if subject and (refused or not scopes <= account.scopes):
            raise OAuthError(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens "
                             "using this method, or client not authorized for any of the scopes requested.")
        return self._issue(Grant(subject or None, scopes, 0.0))

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: malformed assertion.") from exc
        with self._lock:
            account = self._service_accounts.get(str(claims.get("iss", "")))
        if header.get("alg") != "RS256" or account is None:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        try:
            account.public_key.verify(signature, f"{header_b64}.{payload_b64}".encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from exc
        now = self.clock()
        iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
        if exp <= now or iat > now + 300 or exp - iat > MAX_ASSERTION_LIFETIME:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) "
                             "and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if not str(claims.get("aud", "")).endswith("/token"):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        return claims

    def _issue(self, grant: Grant) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        ttl = self.settings.token_ttl_seconds
        with self._lock:
            self._tokens[token] = Grant(grant.user, grant.scopes, self.clock() + ttl, grant.refresh_token)
        return {"access_token": token, "expires_in": ttl, "scope": " ".join(sorted(grant.scopes)),
                "token_type": "Bearer"}
