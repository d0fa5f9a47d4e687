"""The Microsoft identity platform (v2.0) as MSAL sees it, for the Graph simulator.

Serves what `msal.ConfidentialClientApplication` / `PublicClientApplication` call:

* `GET /{tenant}/v2.0/.well-known/openid-configuration` (tenant discovery) and
  `GET /common/discovery/instance` (instance discovery, unless the app turns it off);
* `POST /{tenant}/oauth2/v2.0/token` with the grants `client_credentials` (app-only
  token carrying `roles`), `authorization_code`, `refresh_token` and the device-code grant
  (delegated tokens carrying `scp`, a refresh token when `offline_access` is asked for,
  an `id_token` and `client_info` so MSAL can file the account in its cache);
* `POST /{tenant}/oauth2/v2.0/devicecode`;
* Graph's `POST /v1.0/users/{id}/revokeSignInSessions` (and `/me/...`): the user's refresh tokens stop working.

An authorization code (from the sign-in page in microsoft_sign_in.py, or `issue_auth_code`) is
redeemed once, within ten minutes, with the authorization request's redirect_uri and PKCE verifier.

Access tokens are opaque and bound to tenant, app and (delegated) user. Errors use the
AADSTS shape (`{"error", "error_description", "error_codes", ...}`).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.auth_codes import AuthCode, AuthCodes, CodeProblem, CodeRejected
from threadline.sandbox.base import SandboxContext, form_fields
from threadline.sandbox.redirect_uris import RedirectUris
from threadline.sandbox.settings import SandboxSettings

GRAPH_RESOURCE = "https://graph.microsoft.com/"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
DELEGATED_SCOPES = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read"})
APP_ROLES = ("Mail.Read", "Mail.Send")
MULTI_TENANT = ("common", "organizations")
REVOKE_SESSIONS_ROLE = "User.RevokeSessions.All"       # app-only permission for revokeSignInSessions
# (error, AADSTS code, description) for an authorization code the token endpoint will not redeem.
CODE_ERRORS = {
    CodeProblem.UNKNOWN: ("invalid_grant", 70000, "The provided authorization code is invalid or has expired."),
    CodeProblem.EXPIRED: ("invalid_grant", 70008, "The provided authorization code or refresh token has expired "
                          "due to inactivity. Send a new interactive authorization request for this user and "
                          "resource."),
    CodeProblem.REDEEMED: ("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry "
                           "with a new valid code or use an existing refresh token."),
    CodeProblem.REDIRECT_URI: ("invalid_grant", 500112, "The reply address does not match the reply address "
                               "provided when requesting Authorization code."),
    CodeProblem.VERIFIER_MISSING: ("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                                   "supplied in the authorization request."),
    CodeProblem.VERIFIER_WRONG: ("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                                 "supplied in the authorization request."),
}


@dataclass(frozen=True)
class MsGrant:
    """What a Graph access token stands for."""

    tenant: str                             # tenant id (GUID)
    client_id: str
    user: str | None                        # user object id; None for an app-only token
    roles: frozenset[str] = frozenset()     # application permissions (client credentials)
    scopes: frozenset[str] = frozenset()    # delegated permissions (scp)
    expires_at: float = 0.0


@dataclass
class AppRegistration:
    tenant: str
    client_id: str
    secret: str
    roles: frozenset[str]                   # application permissions an admin consented to
    public_client: bool = True              # "Allow public client flows" (device code without a secret)


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    upn: str
    tenant: str
    display_name: str


@dataclass
class _Pending:
    """A device code or authorization code waiting to be redeemed."""

    client_id: str
    scopes: frozenset[str]
    tenant: str
    user: str | None = None                 # object id once the user signed in
    expires_at: float = 0.0
    nonce: str | None = None                # OpenID Connect nonce of the authorization request


class AadError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self) -> dict[str, Any]:
        trace = str(uuid.uuid4())
        return {"error": self.error, "error_description": f"AADSTS{self.code}: {self.description} "
                f"Trace ID: {trace} Timestamp: {datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}",
                "error_codes": [self.code], "timestamp": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}",
                "trace_id": trace, "correlation_id": str(uuid.uuid4())}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass
class MicrosoftIdentity:
    """Tenants, app registrations, the user directory and every issued token. Thread-safe."""

    settings: SandboxSettings
    ctx: SandboxContext
    clock: Callable[[], float] = time.time
    apps: dict[str, AppRegistration] = field(default_factory=dict, init=False)
    users: dict[str, DirectoryUser] = field(default_factory=dict, init=False)   # id and lower upn -> user
    _tenants: dict[str, str] = field(default_factory=dict, init=False)          # id or domain -> id
    _tokens: dict[str, MsGrant] = field(default_factory=dict, init=False)
    _refresh: dict[str, MsGrant] = field(default_factory=dict, init=False)
    _pending: dict[str, _Pending] = field(default_factory=dict, init=False)     # device/auth codes
    _user_codes: dict[str, str] = field(default_factory=dict, init=False)       # user code -> device code
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False)

    def __post_init__(self) -> None:
        self.codes = AuthCodes(self.clock)
        self.redirect_uris = RedirectUris(allow_loopback=self.settings.oauth_loopback_redirects)
        self.reset()

    def reset(self) -> None:
        """Forget everything but the settings' tenant, app (with its redirect URIs) and default user."""
        with self._lock:
            for store in (self.apps, self.users, self._tenants, self._tokens, self._refresh, self._pending,
                          self._user_codes):
                store.clear()
            s = self.settings
            self.register_tenant(s.graph_tenant_id, s.graph_tenant_domain)
            self.register_app(s.graph_client_id, s.graph_client_secret)
            self.register_user(s.graph_default_user)
        self.codes.clear()
        self.redirect_uris.clear()
        self.redirect_uris.register_all(self.settings.graph_client_id, self.settings.graph_redirect_uris)

    # -- Python-side helpers --------------------------------------------------------------------

    def register_tenant(self, tenant_id: str, domain: str) -> None:
        with self._lock:
            self._tenants[tenant_id.lower()] = tenant_id
            self._tenants[domain.lower()] = tenant_id

    def register_app(self, client_id: str, secret: str, *, tenant: str | None = None,
                     roles: tuple[str, ...] = APP_ROLES, public_client: bool = True) -> AppRegistration:
        """Register an app (in the settings' tenant unless named) with admin-consented `roles`."""
        app = AppRegistration(self.tenant_id(tenant or self.settings.graph_tenant_id) or tenant or "",
                              client_id, secret, frozenset(roles), public_client)
        with self._lock:
            self.apps[client_id] = app
        return app

    def register_user(self, upn: str, *, tenant: str | None = None, display_name: str | None = None) -> DirectoryUser:
        """Add `upn` to the directory (idempotent); returns the user with its object id."""
        with self._lock:
            found = self.users.get(upn.lower())
            if found is not None:
                return found
            user = DirectoryUser(str(uuid.uuid4()), upn, self.tenant_id(tenant or self.settings.graph_tenant_id)
                                 or self.settings.graph_tenant_id, display_name or upn.split("@")[0].title())
            self.users[user.id] = self.users[upn.lower()] = user
            return user

    def user(self, id_or_upn: str) -> DirectoryUser | None:
        with self._lock:
            return self.users.get(id_or_upn) or self.users.get(id_or_upn.lower())

    def directory_users(self, tenant_id: str) -> list[DirectoryUser]:
        """The users of one tenant, by UPN."""
        with self._lock:
            found = {user.id: user for user in self.users.values() if user.tenant == tenant_id}
        return sorted(found.values(), key=lambda user: user.upn.lower())

    def register_redirect_uri(self, client_id: str, uri: str) -> None:
        """Add `uri` to the app registration's redirect URIs (Web platform, exact match)."""
        self.redirect_uris.register(client_id, uri)

    def tenant_id(self, tenant: str) -> str | None:
        with self._lock:
            return self._tenants.get(tenant.lower())

    def issue_auth_code(self, client_id: str, upn: str, scopes: tuple[str, ...] = ("Mail.Read", "Mail.Send",
                                                                                    "offline_access"), *,
                        redirect_uri: str | None = None, code_challenge: str | None = None,
                        challenge_method: str = "S256", nonce: str | None = None) -> str:
        """What /authorize redirects with after `upn` consented: a code redeemable once, for ten minutes, with
        the same redirect_uri and (if a challenge was given) the PKCE verifier."""
        user = self.register_user(upn)
        scopes_ = _normalise(scopes)
        return self.codes.issue(AuthCode(client_id, user.id, scopes_, redirect_uri, code_challenge,
                                         challenge_method, nonce, "offline_access" in scopes_), "0.sandbox-code-")

    def revoke_sign_in_sessions(self, user_id: str) -> None:
        """Every refresh token of the user stops working; access tokens already issued live out their hour,
        as in Entra ID."""
        with self._lock:
            for token in [t for t, grant in self._refresh.items() if grant.user == user_id]:
                del self._refresh[token]

    def approve_device_code(self, user_code: str, upn: str) -> None:
        """The user typed `user_code` at the verification page and signed in as `upn`."""
        user = self.register_user(upn)
        with self._lock:
            self._pending[self._user_codes[user_code]].user = user.id

    def expire_access_tokens(self) -> None:
        """Every issued access token is invalid from now on (clients must refresh)."""
        with self._lock:
            self._tokens.clear()

    def authenticate(self, authorization: str | None) -> MsGrant | None:
        """The grant behind `Authorization: Bearer ...`, or None if missing, unknown or expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        with self._lock:
            grant = self._tokens.get(authorization[7:].strip())
        if grant is None or grant.expires_at <= self.clock():
            return None
        return grant

    # -- endpoints --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._openid_configuration, methods=["GET"]),
            Route("/common/discovery/instance", self._instance_discovery, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token_endpoint, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/devicecode", self._devicecode_endpoint, methods=["POST"]),
            # Before Graph's catch-all /v1.0/ route: this one is about sign-in, not mail.
            Route("/v1.0/me/revokeSignInSessions", self._revoke_sessions_endpoint, methods=["POST"]),
            Route("/v1.0/users/{user}/revokeSignInSessions", self._revoke_sessions_endpoint, methods=["POST"]),
        ]

    async def _openid_configuration(self, request: Request) -> Response:
        self.ctx.stats.record("microsoft-identity", "openid-configuration")
        tenant = request.path_params["tenant"]
        tid = self.tenant_id(tenant) or (tenant if tenant in MULTI_TENANT else None)
        if tid is None:
            exc = AadError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            return JSONResponse(exc.body(), status_code=400)
        base = _base(request)
        return JSONResponse({
            "issuer": f"{base}/{tid}/v2.0", "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys", "tenant_region_scope": "EU",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def _instance_discovery(self, request: Request) -> Response:
        base = _base(request)
        host = base.split("://", 1)[1]
        return JSONResponse({
            "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration", "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    async def _devicecode_endpoint(self, request: Request) -> Response:
        form = await form_fields(request)
        self.ctx.stats.record("microsoft-identity", "devicecode")
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return JSONResponse(AadError(400, "unauthorized_client", 700016, "Application not found.").body(), 400)
        device_code = "sandbox-device-" + secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        with self._lock:
            self._pending[device_code] = _Pending(app.client_id, _normalise(form.get("scope", "").split()),
                                                  app.tenant, None, self.clock() + 900)
            self._user_codes[user_code] = device_code
        uri = f"{_base(request)}/devicelogin"
        return JSONResponse({"device_code": device_code, "user_code": user_code, "verification_uri": uri,
                             "expires_in": 900, "interval": 1,
                             "message": f"To sign in, use a web browser to open the page {uri} and enter "
                                        f"the code {user_code} to authenticate."})

    async def _revoke_sessions_endpoint(self, request: Request) -> Response:
        self.ctx.stats.record("graph", "users.revokeSignInSessions")
        grant = self.authenticate(request.headers.get("authorization"))
        if grant is None:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        named = request.path_params.get("user")
        if named is None and grant.user is None:
            return _graph_error(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        target = self.user(named or grant.user or "")
        if target is None:
            return _graph_error(404, "Request_ResourceNotFound", f"Resource '{named}' does not exist or one of "
                                "its queried reference-property objects are not present.")
        # An app's role reaches the users of its own tenant only.
        if grant.user != target.id and (REVOKE_SESSIONS_ROLE not in grant.roles or grant.tenant != target.tenant):
            return _graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the "
                                "operation.")
        self.revoke_sign_in_sessions(target.id)
        return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
                             "value": True})

    async def _token_endpoint(self, request: Request) -> Response:
        # Parsed by hand: Starlette's request.form() needs python-multipart.
        form = await form_fields(request)
        self.ctx.stats.record("microsoft-identity", f"token {form.get('grant_type', '?')}")
        try:
            body = self._grant(request.path_params["tenant"], form, _base(request))
        except AadError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _grant(self, tenant: str, form: dict[str, str], base: str) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        tid = self.tenant_id(tenant)
        if tid is None and tenant not in MULTI_TENANT:
            raise AadError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        app = self._client(form, secret_required=grant_type == "client_credentials")
        if grant_type == "client_credentials":
            return self._client_credentials(app, tid, form)
        if grant_type == "authorization_code":
            pending = self._redeem_code(form, app)
        elif grant_type == DEVICE_CODE_GRANT:
            pending = self._device(form.get("device_code", ""), app)
        elif grant_type == "refresh_token":
            with self._lock:
                old = self._refresh.get(form.get("refresh_token", ""))
            if old is None or old.client_id != app.client_id:
                raise AadError(400, "invalid_grant", 70008, "The provided authorization code or refresh token "
                               "has expired due to inactivity.")
            pending = _Pending(app.client_id, old.scopes | {"offline_access"}, old.tenant, old.user)
        else:
            raise AadError(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type "
                           f"'{grant_type}'.")
        return self._delegated(app, pending, form, base)

    def _client(self, form: dict[str, str], *, secret_required: bool) -> AppRegistration:
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            raise AadError(400, "unauthorized_client", 700016, f"Application with identifier "
                           f"'{form.get('client_id', '')}' was not found in the directory.")
        secret = form.get("client_secret")
        if secret is not None and secret != app.secret:
            raise AadError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if secret is None and (secret_required or not app.public_client):
            raise AadError(401, "invalid_client", 7000218, "The request body must contain the following "
                           "parameter: 'client_assertion' or 'client_secret'.")
        return app

    def _client_credentials(self, app: AppRegistration, tid: str | None, form: dict[str, str]) -> dict[str, Any]:
        scope = form.get("scope", "")
        if scope.strip() != f"{GRAPH_RESOURCE}.default":
            raise AadError(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid. "
                           "Client credential flows must have a scope value with /.default suffixed to the "
                           "resource identifier (application ID URI).")
        if tid is None or tid != app.tenant:
            raise AadError(400, "invalid_request", 700016, "Application not found in the directory of the tenant.")
        return self._issue(MsGrant(app.tenant, app.client_id, None, roles=app.roles), None, None)

    def _redeem(self, code: str, app: AppRegistration, error: str, aadsts: int) -> _Pending:
        with self._lock:
            pending = self._pending.pop(code, None)
        if pending is None or pending.client_id != app.client_id or pending.expires_at <= self.clock():
            raise AadError(400, error, aadsts, "The provided authorization code is invalid or has expired.")
        return pending

    def _redeem_code(self, form: dict[str, str], app: AppRegistration) -> _Pending:
        try:
            code = self.codes.redeem(form.get("code", ""), app.client_id, form.get("redirect_uri"),
                                     form.get("code_verifier"))
        except CodeRejected as exc:
            raise AadError(400, *CODE_ERRORS[exc.problem]) from exc
        return _Pending(code.client_id, code.scopes, self.users[code.user].tenant, code.user, nonce=code.nonce)

    def _device(self, device_code: str, app: AppRegistration) -> _Pending:
        with self._lock:
            pending = self._pending.get(device_code)
        if pending is None or pending.client_id != app.client_id or pending.expires_at <= self.clock():
            raise AadError(400, "expired_token", 70020, "The provided value for the input parameter "
                           "'device_code' is not valid. This device code has expired.")
        if pending.user is None:
            raise AadError(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization "
                           "is pending. Continue polling.")
        return self._redeem(device_code, app, "expired_token", 70020)

    def _delegated(self, app: AppRegistration, pending: _Pending, form: dict[str, str], base: str) -> dict[str, Any]:
        asked = _normalise(form["scope"].split()) if form.get("scope") else pending.scopes
        scopes = frozenset(asked & DELEGATED_SCOPES) or frozenset(pending.scopes & DELEGATED_SCOPES)
        user = self.users[pending.user or ""]
        grant = MsGrant(user.tenant, app.client_id, user.id, scopes=scopes)
        wants_refresh = "offline_access" in (asked | pending.scopes)
        return self._issue(grant, user, base if wants_refresh or "openid" in asked else None,
                           refresh=wants_refresh, nonce=pending.nonce)

    def _issue(self, grant: MsGrant, user: DirectoryUser | None, base: str | None, *,
               refresh: bool = False, nonce: str | None = None) -> dict[str, Any]:
        ttl = self.settings.graph_token_ttl_seconds
        token = "EwB-sandbox." + secrets.token_urlsafe(40)
        issued = MsGrant(grant.tenant, grant.client_id, grant.user, grant.roles, grant.scopes, self.clock() + ttl)
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                                "access_token": token}
        with self._lock:
            self._tokens[token] = issued
            if refresh:
                body["refresh_token"] = "M.sandbox-refresh." + secrets.token_urlsafe(40)
                self._refresh[body["refresh_token"]] = issued
        if user is not None:
            body["scope"] = " ".join(sorted(grant.scopes | {"openid", "profile"}
                                            | ({"offline_access"} if refresh else set())))
            body["client_info"] = _b64({"uid": user.id, "utid": user.tenant})
            if base is not None:
                body["id_token"] = self._id_token(user, grant.client_id, base, nonce)
        return body

    def _id_token(self, user: DirectoryUser, client_id: str, base: str, nonce: str | None = None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "aud": client_id, "iss": f"{base}/{user.tenant}/v2.0", "iat": now, "nbf": now, "exp": now + 3600,
            "name": user.display_name, "oid": user.id, "preferred_username": user.upn, "email": user.upn,
            "sub": user.id, "tid": user.tenant, "ver": "2.0"}
        if nonce is not None:
            claims["nonce"] = nonce
        # Unsigned: MSAL reads claims from an id_token it got over TLS from the token endpoint.
        return f"{_b64({'typ': 'JWT', 'alg': 'RS256', 'kid': 'sandbox'})}.{_b64(claims)}.c2FuZGJveA"


def _graph_error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message, "innerError": {
        "date": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}", "request-id": str(uuid.uuid4())}}}, status_code=status)


def _normalise(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """`https://graph.microsoft.com/Mail.Read` and `Mail.Read` are the same permission."""
    return frozenset(s.removeprefix(GRAPH_RESOURCE) for s in scopes if s)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
