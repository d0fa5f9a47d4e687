"""Google's browser sign-in: `GET /o/oauth2/v2/auth` (and the older `/o/oauth2/auth`) and the consent POST.

Validated like accounts.google.com: an unknown client (Error 401: invalid_client), a redirect_uri
the client did not register (Error 400: redirect_uri_mismatch) and bad parameters (invalid_request,
invalid_scope) get an error page, never a redirect. Otherwise the page asks which Workspace
account signs in (a Gmail mailbox that exists, or any address in `google_workspace_domain`) and
whether it allows the scopes. Allow sends the browser to redirect_uri with a code (exchanged at
`/token`, google_oauth.py), Cancel with `error=access_denied`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
from threadline.sandbox.google_oauth import SIGN_IN_SCOPES, GoogleOAuth
from threadline.sandbox.pkce import METHODS, valid_challenge
from threadline.sandbox.settings import SandboxSettings
from threadline.sandbox.sign_in_pages import SignInPages

CONSENT_PATH = "/o/oauth2/v2/auth/consent"
PROMPTS = frozenset({"none", "consent", "select_account"})


@dataclass(frozen=True)
class GoogleAuthRequest:
    """A validated authorization request, kept while its consent page is open."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    offline: bool
    code_challenge: str | None
    challenge_method: str
    login_hint: str


class PageError(Exception):
    """Refuse with Google's error page ("Error 400: redirect_uri_mismatch"); the browser stays here."""

    def __init__(self, error: str, detail: str, shown_code: int = 400) -> None:
        super().__init__(detail)
        self.error, self.detail, self.shown_code = error, detail, shown_code


class GoogleSignIn(SignInPages[GoogleAuthRequest]):
    """The sign-in and consent pages of accounts.google.com. Thread-safe; `reset()` drops open forms."""

    name = stats_name = "google-accounts"
    provider = "Google"
    unauthorized_text = "invalid_client"
    prefixes = ("/o/oauth2/",)

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext, oauth: GoogleOAuth,
                 mailboxes: Callable[[], Iterable[str]] = tuple) -> None:
        super().__init__(ctx, "sandbox_google_signin")
        self.settings, self.oauth = settings, oauth
        self.mailboxes = mailboxes                   # addresses of the Gmail mailboxes that exist

    def routes(self) -> list[BaseRoute]:
        return [Route("/o/oauth2/v2/auth", self._authorize, methods=["GET"]),
                Route("/o/oauth2/auth", self._authorize, methods=["GET"]),
                Route(CONSENT_PATH, self._consent, methods=["POST"])]

    def workspace_users(self) -> list[str]:
        """The accounts that can sign in by name: every Gmail mailbox that exists."""
        return sorted({address.lower() for address in self.mailboxes()})

    def is_workspace_user(self, email: str) -> bool:
        """A mailbox that exists, or any address in the settings' Workspace domain."""
        domain = self.settings.google_workspace_domain.lower()
        email = email.strip().lower()
        return "@" in email and (email.rsplit("@", 1)[1] == domain
                                 or email in {address.lower() for address in self.mailboxes()})

    # -- endpoints --------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        self.ctx.stats.record("google-accounts", "authorize")
        try:
            auth = self._validated(dict(request.query_params.items()))
        except PageError as exc:
            return _error_page(exc)
        if "none" in request.query_params.get("prompt", "").split():
            # No browser session in the sandbox: a silent request cannot succeed.
            return redirect_back(auth.redirect_uri, {"error": "login_required", "state": auth.state})
        return self._page(auth, auth.login_hint, self.forms.browser_of(request), is_https(request))

    async def _consent(self, request: Request) -> Response:
        form, browser, auth = await self._posted(request)
        if auth is None:
            return _error_page(PageError("invalid_request", "This sign-in form has expired or was opened in "
                                         "another browser. Go back to the app and start again."))
        if form.get("decision") != "allow":
            return redirect_back(auth.redirect_uri, {"error": "access_denied", "state": auth.state})
        email = form.get("email", "").strip()
        if not self.is_workspace_user(email):
            return self._page(auth, email, browser, is_https(request), "Couldn't find your Google Account")
        code = self.oauth.issue_auth_code(email.lower(), auth.scopes, client_id=auth.client_id,
                                          redirect_uri=auth.redirect_uri, code_challenge=auth.code_challenge,
                                          challenge_method=auth.challenge_method, offline=auth.offline)
        return redirect_back(auth.redirect_uri, {"code": code, "scope": " ".join(auth.scopes), "state": auth.state,
                                                 "authuser": "0", "prompt": "consent"})

    def _page(self, auth: GoogleAuthRequest, email: str, browser: str | None, secure: bool,
              problem: str = "") -> Response:
        return self._render(auth, ConsentPage(self.provider, auth.client_id, auth.scopes, CONSENT_PATH, "", email,
                                              tuple(self.workspace_users()), problem), browser, secure)

    # -- validation, in Google's order: who asks, where the answer goes, then the rest -----------------------

    def _validated(self, params: dict[str, str]) -> GoogleAuthRequest:
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if not client_id:
            raise PageError("invalid_request", "Missing required parameter: client_id")
        if not self.oauth.is_client(client_id):
            raise PageError("invalid_client", "The OAuth client was not found.", shown_code=401)
        if not redirect_uri:
            raise PageError("invalid_request", "Missing required parameter: redirect_uri")
        if not self.oauth.redirect_uris.allowed(client_id, redirect_uri):
            raise PageError("redirect_uri_mismatch", "You can't sign in to this app because it doesn't comply "
                            "with Google's OAuth 2.0 policy. If you're the app developer, register the redirect "
                            f"URI in the Google Cloud Console. Request details: redirect_uri={redirect_uri}")
        _check_response_type(params.get("response_type", ""))
        _check_prompt(params.get("prompt", ""))
        challenge, method = _challenge(params)
        return GoogleAuthRequest(client_id, redirect_uri, _scopes(params.get("scope", "")), params.get("state"),
                                 _offline(params.get("access_type", "")), challenge, method,
                                 params.get("login_hint", ""))


def _check_response_type(response_type: str) -> None:
    if not response_type:
        raise PageError("invalid_request", "Required parameter is missing: response_type")
    if response_type != "code":
        raise PageError("unsupported_response_type", f"Invalid response_type: {response_type}")


def _check_prompt(prompt: str) -> None:
    values = prompt.split()
    if any(v not in PROMPTS for v in values) or ("none" in values and len(values) > 1):
        raise PageError("invalid_request", f"Invalid prompt: {prompt}")


def _scopes(scope: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(scope.split()))
    if not scopes:
        raise PageError("invalid_request", "Missing required parameter: scope")
    invalid = [s for s in scopes if s not in SIGN_IN_SCOPES]
    if invalid:
        raise PageError("invalid_scope", f"Some requested scopes were invalid. {{invalid={invalid}}}")
    return scopes


def _offline(access_type: str) -> bool:
    if access_type not in ("", "online", "offline"):
        raise PageError("invalid_request", f"Invalid access_type: {access_type}")
    return access_type == "offline"


def _challenge(params: dict[str, str]) -> tuple[str | None, str]:
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or "plain"        # RFC 7636's default
    if challenge is None:
        if params.get("code_challenge_method"):
            raise PageError("invalid_request", "Missing code_challenge.")
        return None, "S256"
    if method not in METHODS:
        raise PageError("invalid_request", f"Invalid code_challenge_method: {method}")
    if not valid_challenge(challenge, method):
        raise PageError("invalid_request", "Invalid code_challenge.")
    return challenge, method


def _error_page(exc: PageError) -> Response:
    return page_response(error_html("Google", f"Error {exc.shown_code}: {exc.error}", exc.detail), 400)
