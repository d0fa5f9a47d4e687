"""Access tokens for Graph through MSAL: app-only (client credentials) or delegated (cached refresh token).

Both are `TokenSource`s: `token(force_refresh)` returns a bearer token or raises a
ProviderError (AuthExpired when an admin or a new sign-in is needed, TransientError
when the identity platform is unreachable). MSAL talks to `authority`
(`https://login.microsoftonline.com/{tenant}` by default; a national cloud or the
sandbox otherwise); it builds the MSAL app lazily because that does network discovery.
With a persistent cache (a StoredTokenCache in production) tokens are shared: the cache is
reloaded when the token handed out last is due or was rejected, so one replica's refresh
serves the others, and every change is saved at once.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
import msal
import requests
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from threadline.adapters.errors import AuthExpired, ProviderError, TransientError
from threadline.adapters.network_errors import network_problem
from threadline.adapters.outlook.errors import MAIL_PERMISSIONS, PROVIDER, from_msal
from threadline.adapters.outlook.token_cache import PersistentTokenCache

# MSAL logs each token request's data at DEBUG, an authorization code and its PKCE verifier included: a DEBUG
# log level must not put them in the log, so its logger never goes below WARNING.
logging.getLogger("msal").setLevel(logging.WARNING)
AUTHORITY_HOST = "https://login.microsoftonline.com"
APP_SCOPES = ("https://graph.microsoft.com/.default",)
#: Read mail and send sequence steps; MSAL adds openid/profile/offline_access itself.
DELEGATED_SCOPES = MAIL_PERMISSIONS
MSAL_TIMEOUT = 30.0
#: Reload a shared cache this long before the token handed out expires (MSAL refreshes 5 minutes early too).
RELOAD_MARGIN = 300.0


class TokenSource(Protocol):
    def token(self, force_refresh: bool = False) -> str: ...


class _Handout:
    """The token handed out last and until when it is good: when to look in the shared cache again."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.until = 0.0

    def due(self) -> bool:
        return time.time() >= self.until - RELOAD_MARGIN

    def note(self, result: dict[str, Any]) -> str:
        self.token = str(result["access_token"])
        self.until = time.time() + float(result.get("expires_in") or 0)
        return self.token


class _MsalApp:
    """Builds the MSAL application once, translating discovery failures."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._app is None:
                self._app = _guarded(self._factory)
            return self._app


def _host_of(exc: requests.RequestException) -> str | None:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    return httpx.URL(url).host if isinstance(url, str) else None


def _guarded(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except requests.RequestException as exc:
        raise TransientError(f"identity platform: {network_problem(exc, _host_of(exc))}", provider=PROVIDER) from exc
    except ValueError as exc:               # MSAL: authority/tenant discovery refused
        raise AuthExpired(f"identity platform refused the authority: {str(exc)[:160]}", provider=PROVIDER) from exc


def _instance_discovery(authority_host: str, asked: bool | None) -> bool | None:
    """MSAL validates unknown authority hosts at login.microsoftonline.com; a sandbox or private host opts out."""
    if asked is not None:
        return asked
    host = authority_host.split("://", 1)[-1].split("/", 1)[0].lower()
    return None if host in WELL_KNOWN_AUTHORITY_HOSTS else False


def _http_options(verify: str | bool, http_client: Any) -> dict[str, Any]:
    if http_client is not None:
        return {"http_client": http_client}
    session = requests.Session()
    # Per request, because REQUESTS_CA_BUNDLE would override a session-wide `verify` (psf/requests#3829).
    session.request = functools.partial(session.request, verify=verify, timeout=MSAL_TIMEOUT)  # type: ignore[method-assign]
    return {"http_client": session}


class ClientCredentials:
    """App-only tokens (application permissions Mail.Read/Mail.Send) for one tenant.

    `cache` (optional) shares the app token between processes; without it MSAL keeps it in memory.
    """

    def __init__(self, tenant: str, client_id: str, client_secret: str, *, authority_host: str = AUTHORITY_HOST,
                 verify: str | bool = True, http_client: Any = None, instance_discovery: bool | None = None,
                 cache: PersistentTokenCache | None = None) -> None:
        options = _http_options(verify, http_client)
        self._session = None if http_client is not None else options["http_client"]
        if cache is not None:
            options["token_cache"] = cache
        self.cache = cache
        self._handout = _Handout()
        self._app = _MsalApp(lambda: msal.ConfidentialClientApplication(
            client_id, client_credential=client_secret, authority=f"{authority_host.rstrip('/')}/{tenant}",
            instance_discovery=_instance_discovery(authority_host, instance_discovery), **options))

    def close(self) -> None:
        """Close the requests session it made for MSAL (one given in `http_client` stays open)."""
        if self._session is not None:
            self._session.close()

    def token(self, force_refresh: bool = False) -> str:
        app = self._app.get()
        if self.cache is not None and (force_refresh or self._handout.due()):
            self.cache.reload()
        result = self._acquire(app)
        if force_refresh and result.get("access_token") == self._handout.token:
            app.remove_tokens_for_client()          # the token we handed out was rejected: drop it
            result = self._acquire(app)
        if self.cache is not None:
            self.cache.save()
        return self._handout.note(result)

    @staticmethod
    def _acquire(app: Any) -> dict[str, Any]:
        result = _guarded(lambda: app.acquire_token_for_client(scopes=list(APP_SCOPES)))
        if not result or "access_token" not in result:
            raise from_msal(result)
        return dict(result)


class Delegated:
    """A signed-in user's tokens, refreshed silently from the persistent cache (which holds the refresh token).

    `client_secret` makes it a confidential (web) app; without it a public client
    (device code). `username` picks the account in the cache.
    """

    def __init__(self, tenant: str, client_id: str, cache: PersistentTokenCache, username: str, *,
                 client_secret: str | None = None, authority_host: str = AUTHORITY_HOST,
                 scopes: Sequence[str] = DELEGATED_SCOPES, verify: str | bool = True, http_client: Any = None,
                 instance_discovery: bool | None = None) -> None:
        self.cache, self.username, self.scopes = cache, username, list(scopes)
        self._handout = _Handout()
        http = _http_options(verify, http_client)
        self._session = None if http_client is not None else http["http_client"]
        options = {**http, "token_cache": cache,
                   "instance_discovery": _instance_discovery(authority_host, instance_discovery),
                   "authority": f"{authority_host.rstrip('/')}/{tenant}"}
        if client_secret is None:
            self._app = _MsalApp(lambda: msal.PublicClientApplication(client_id, **options))
        else:
            self._app = _MsalApp(lambda: msal.ConfidentialClientApplication(
                client_id, client_credential=client_secret, **options))

    def close(self) -> None:
        """Close the requests session it made for MSAL (one given in `http_client` stays open)."""
        if self._session is not None:
            self._session.close()

    def token(self, force_refresh: bool = False) -> str:
        app = self._app.get()
        if force_refresh or self._handout.due():
            self.cache.reload()                   # another replica may have refreshed (and rotated) meanwhile
        # A mailbox's cache holds the one account signed in for it, which may be an alias the admin allowed.
        accounts = app.get_accounts(username=self.username) or app.get_accounts()
        if not accounts:
            raise AuthExpired(f"no signed-in account for {self.username} in the token cache; sign in again "
                              f"(threadline auth outlook {self.username})", provider=PROVIDER)
        result = self._silent(app, accounts[0], force=False)
        if force_refresh and result.get("access_token") == self._handout.token:
            result = self._silent(app, accounts[0], force=True)
        return self._handout.note(result)

    def _silent(self, app: Any, account: Any, *, force: bool) -> dict[str, Any]:
        result = _guarded(lambda: app.acquire_token_silent(self.scopes, account=account, force_refresh=force))
        self.cache.save()
        if not result or "access_token" not in result:
            raise from_msal(result)
        return dict(result)

    def redeem_auth_code(self, code: str, redirect_uri: str) -> str:
        """Finish the auth-code flow (web callback); returns the signed-in username. Caches the refresh token."""
        app = self._app.get()
        result = _guarded(lambda: app.acquire_token_by_authorization_code(code, self.scopes,
                                                                          redirect_uri=redirect_uri))
        return self._signed_in(result)

    def device_code_login(self, show: Callable[[str], None]) -> str:
        """Device-code sign-in: `show` gets the instruction text; blocks until the user signs in.

        Returns the signed-in username; the refresh token is saved in the persistent cache.
        """
        app = self._app.get()
        flow = _guarded(lambda: app.initiate_device_flow(scopes=self.scopes))
        if "user_code" not in flow:
            raise from_msal(flow)
        show(str(flow["message"]))
        return self._signed_in(_guarded(lambda: app.acquire_token_by_device_flow(flow)))

    def _signed_in(self, result: dict[str, Any] | None) -> str:
        if not result or "access_token" not in result:
            raise from_msal(result)
        self.cache.save()
        return str((result.get("id_token_claims") or {}).get("preferred_username", self.username))


class BearerAuth(httpx.Auth):
    """Sets `Authorization: Bearer` from a TokenSource; on a 401 gets a fresh token and resends once."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.source.token()}"
        response = yield request
        if response.status_code == 401:
            try:
                request.headers["Authorization"] = f"Bearer {self.source.token(force_refresh=True)}"
            except ProviderError:
                return                        # keep the 401: it is translated to AuthExpired
            yield request
