"""The Microsoft identity platform's browser sign-in: `GET /{tenant}/oauth2/v2.0/authorize` and the consent POST.

Validated like login.microsoftonline.com: an unknown tenant (AADSTS90002), an unknown app
(AADSTS700016) or a redirect URI the app did not register (AADSTS50011) get an error page and
never a redirect; once the redirect URI is trusted, other mistakes (response_type, scope, PKCE
challenge) go back to it as `error` + `error_description`. Otherwise the page asks which
directory user of the app's tenant signs in and whether they consent. Allow sends the browser
back with `code`, `state` and `session_state` (the code is redeemed at the token endpoint,
microsoft_oauth.py), Cancel with `error=access_denied` (AADSTS65004).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.consent_page import (
    ConsentPage,
    error_html,
    is_https,
    page_response,
    redirect_back,
)
from threadline.sandbox.microsoft_oauth import (
    DELEGATED_SCOPES,
    GRAPH_RESOURCE,
    MULTI_TENANT,
    OIDC_SCOPES,
    AppRegistration,
    DirectoryUser,
    MicrosoftIdentity,
)
from threadline.sandbox.pkce import METHODS, valid_challenge
from threadline.sandbox.settings import SandboxSettings
from threadline.sandbox.sign_in_pages import SignInPages

RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = frozenset({"login", "none", "consent", "select_account"})
UNKNOWN_USER = "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin."


@dataclass(frozen=True)
class MicrosoftAuthRequest:
    """A validated authorization request, kept while its sign-in page is open."""

    tenant: str                                 # as in the path: a tenant id, a domain, common or organizations
    client_id: str
    redirect_uri: str
    response_mode: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    challenge_method: str
    nonce: str | None
    login_hint: str


class AuthorizeError(Exception):
    """An AADSTS error. `page`: shown at login.microsoftonline.com; else sent back to the redirect URI."""

    def __init__(self, error: str, code: int, description: str, *, page: bool = False) -> None:
        super().__init__(description)
        self.error, self.code, self.description, self.page = error, code, description, page

    @property
    def text(self) -> str:
        return f"AADSTS{self.code}: {self.description}"


class MicrosoftSignIn(SignInPages[MicrosoftAuthRequest]):
    """The sign-in and consent pages of login.microsoftonline.com. Thread-safe; `reset()` drops open forms."""

    name = "microsoft-login"
    stats_name = "microsoft-identity"
    provider = "Microsoft"
    prefixes: tuple[str, ...] = ()              # /{tenant}/... has no fixed prefix: no injected faults here

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext, identity: MicrosoftIdentity) -> None:
        super().__init__(ctx, "sandbox_microsoft_signin")
        self.settings, self.identity = settings, identity

    def routes(self) -> list[BaseRoute]:
        return [Route("/{tenant}/oauth2/v2.0/authorize", self._authorize, methods=["GET"]),
                Route("/{tenant}/oauth2/v2.0/authorize/consent", self._consent, methods=["POST"])]

    # -- endpoints --------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        self.ctx.stats.record("microsoft-identity", "authorize")
        params = dict(request.query_params.items())
        try:
            app = self._trusted(request.path_params["tenant"], params)
            auth = _validated(request.path_params["tenant"], app, params)
        except AuthorizeError as exc:
            return _error_page(exc) if exc.page else _send_back(params, exc)
        if "none" in params.get("prompt", "").split():
            # No browser session in the sandbox: a silent request cannot succeed.
            return _send_back(params, AuthorizeError("login_required", 50058, "A silent sign-in request was "
                                                     "sent but no user is signed in."))
        return self._page(auth, auth.login_hint, self.forms.browser_of(request), is_https(request))

    async def _consent(self, request: Request) -> Response:
        form, browser, auth = await self._posted(request)
        if auth is None:
            return _error_page(AuthorizeError("invalid_request", 90014, "This sign-in form has expired or was "
                                              "opened in another browser. Go back to the app and start again.",
                                              page=True))
        if form.get("decision") != "allow":
            return redirect_back(auth.redirect_uri, {
                "error": "access_denied", "error_subcode": "cancel", "state": auth.state,
                "error_description": "AADSTS65004: User declined to consent to access the app."}, auth.response_mode)
        user = self._signing_in(auth, form.get("email", ""))
        if user is None:
            return self._page(auth, form.get("email", ""), browser, is_https(request), UNKNOWN_USER)
        code = self.identity.issue_auth_code(auth.client_id, user.upn, auth.scopes, redirect_uri=auth.redirect_uri,
                                             code_challenge=auth.code_challenge,
                                             challenge_method=auth.challenge_method, nonce=auth.nonce)
        return redirect_back(auth.redirect_uri, {"code": code, "state": auth.state,
                                                 "session_state": str(uuid.uuid4())}, auth.response_mode)

    def _signing_in(self, auth: MicrosoftAuthRequest, email: str) -> DirectoryUser | None:
        """The directory user named, if they belong to the app's tenant (and the path's, unless multi-tenant)."""
        user = self.identity.user(email.strip()) if email.strip() else None
        app = self.identity.apps.get(auth.client_id)
        if user is None or app is None or user.tenant != app.tenant:
            return None
        return user if auth.tenant in MULTI_TENANT or self.identity.tenant_id(auth.tenant) == user.tenant else None

    def _page(self, auth: MicrosoftAuthRequest, email: str, browser: str | None, secure: bool,
              problem: str = "") -> Response:
        app = self.identity.apps.get(auth.client_id)
        accounts = tuple(u.upn for u in self.identity.directory_users(app.tenant)) if app else ()
        return self._render(auth, ConsentPage(self.provider, auth.client_id, auth.scopes,
                                              f"/{auth.tenant}/oauth2/v2.0/authorize/consent", "", email, accounts,
                                              problem), browser, secure)

    def _trusted(self, tenant: str, params: dict[str, str]) -> AppRegistration:
        """The app, once the tenant, the app and the redirect URI check out (else an error page)."""
        if self.identity.tenant_id(tenant) is None and tenant not in MULTI_TENANT:
            raise AuthorizeError("invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you "
                                 "have the correct tenant ID and are signing into the correct cloud.", page=True)
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if not client_id:
            raise _missing("client_id", page=True)
        app = self.identity.apps.get(client_id)
        if app is None:
            raise AuthorizeError("unauthorized_client", 700016, f"Application with identifier '{client_id}' was "
                                 f"not found in the directory '{tenant}'. This can happen if the application has "
                                 "not been installed by the administrator of the tenant or consented to by any user "
                                 "in the tenant. You may have sent your authentication request to the wrong tenant.",
                                 page=True)
        if not redirect_uri:
            raise _missing("redirect_uri", page=True)
        if not self.identity.redirect_uris.allowed(client_id, redirect_uri):
            raise AuthorizeError("invalid_request", 50011, f"The redirect URI '{redirect_uri}' specified in the "
                                 f"request does not match the redirect URIs configured for the application "
                                 f"'{client_id}'. Make sure the redirect URI sent in the request matches one added "
                                 "to your application in the Azure portal.", page=True)
        return app


def _validated(tenant: str, app: AppRegistration, params: dict[str, str]) -> MicrosoftAuthRequest:
    response_type = params.get("response_type", "")
    if not response_type:
        raise _missing("response_type")
    if response_type != "code":
        raise AuthorizeError("unsupported_response_type", 70005, f"response_type '{response_type}' is not "
                             "enabled for the application.")
    mode = params.get("response_mode") or "query"
    if mode not in RESPONSE_MODES:
        raise AuthorizeError("invalid_request", 900144, f"The provided value for the input parameter "
                             f"'response_mode' is not valid: '{mode}'.")
    prompt = params.get("prompt", "").split()
    if any(p not in PROMPTS for p in prompt):
        raise AuthorizeError("invalid_request", 90023, f"Invalid prompt value: '{params['prompt']}'.")
    challenge, method = _challenge(params)
    return MicrosoftAuthRequest(tenant, app.client_id, params["redirect_uri"], mode, _scopes(params.get("scope", "")),
                                params.get("state"), challenge, method, params.get("nonce"),
                                params.get("login_hint", ""))


def _scopes(scope: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(scope.split()))
    if not scopes:
        raise _missing("scope")
    for s in scopes:
        if s.removeprefix(GRAPH_RESOURCE) not in DELEGATED_SCOPES | OIDC_SCOPES:
            raise AuthorizeError("invalid_scope", 70011, f"The provided value for the input parameter 'scope' is "
                                 f"not valid. The scope '{s}' does not exist.")
    return scopes


def _challenge(params: dict[str, str]) -> tuple[str | None, str]:
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or "plain"        # RFC 7636's default
    if challenge is None:
        return None, "S256"
    if method not in METHODS or not valid_challenge(challenge, method):
        raise AuthorizeError("invalid_request", 501491, "Invalid size of Code_Challenge parameter."
                             if method in METHODS else f"Invalid code_challenge_method '{method}'.")
    return challenge, method


def _missing(parameter: str, *, page: bool = False) -> AuthorizeError:
    return AuthorizeError("invalid_request", 900144, "The request body must contain the following parameter: "
                          f"'{parameter}'.", page=page)


def _send_back(params: dict[str, str], exc: AuthorizeError) -> Response:
    """An error after the redirect URI checked out goes back to the app, as the identity platform does."""
    mode = params.get("response_mode") if params.get("response_mode") in RESPONSE_MODES else "query"
    return redirect_back(params["redirect_uri"], {"error": exc.error, "error_description": exc.text,
                                                  "state": params.get("state")}, mode or "query")


def _error_page(exc: AuthorizeError) -> Response:
    return page_response(error_html("Microsoft", exc.text, "Sign in failed: " + exc.error), 400)
