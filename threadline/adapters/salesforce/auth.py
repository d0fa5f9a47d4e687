"""Getting a Salesforce session: the OAuth 2.0 JWT bearer flow or the refresh-token flow.

Either grant is posted to `{login_url}/services/oauth2/token`; the answer's
`instance_url` is where every API call then goes. Secrets only ever travel in
the token request body; they are never logged or put in exceptions. With a TokenStore
the session is shared: a restart or another replica reuses it until Salesforce rejects it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

import jwt

from threadline.adapters.answers import decode_object, reading
from threadline.adapters.http import JsonApi
from threadline.adapters.token_store import SharedEntry, TokenStore

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 180   # Salesforce accepts assertions that expire within 3 minutes


class Grant(Protocol):
    @property
    def login_url(self) -> str:
        """Where the token request goes (read-only: the grants are frozen dataclasses)."""
        ...

    def form(self) -> dict[str, str]:
        """The token request's form fields."""
        ...

    @property
    def cache_name(self) -> str:
        """Under which name a TokenStore keeps this grant's session (no secret in it)."""
        ...


@dataclass(frozen=True, repr=False)
class JwtBearerGrant:
    """Server-to-server: a connected app's consumer key, the API user's username and the app's private key.
    `audience` defaults to the login URL (login.salesforce.com, test.salesforce.com or the sandbox)."""

    consumer_key: str
    username: str
    private_key_pem: bytes | str
    login_url: str = "https://login.salesforce.com"
    audience: str | None = None

    def form(self) -> dict[str, str]:
        claims = {"iss": self.consumer_key, "sub": self.username, "aud": self.audience or self.login_url,
                  "exp": int(time.time()) + ASSERTION_SECONDS}
        return {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, self.private_key_pem, algorithm="RS256")}

    @property
    def cache_name(self) -> str:
        return f"salesforce/{self.login_url.rstrip('/')}/{self.consumer_key}/{self.username}/session"

    def __repr__(self) -> str:
        return f"JwtBearerGrant(consumer_key=..., username={self.username!r}, login_url={self.login_url!r})"


@dataclass(frozen=True, repr=False)
class RefreshTokenGrant:
    """A refresh token from the web-server flow, with its connected app's client id (and secret)."""

    client_id: str
    refresh_token: str
    client_secret: str | None = None
    login_url: str = "https://login.salesforce.com"

    def form(self) -> dict[str, str]:
        form = {"grant_type": "refresh_token", "client_id": self.client_id, "refresh_token": self.refresh_token}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        return form

    @property
    def cache_name(self) -> str:
        return f"salesforce/{self.login_url.rstrip('/')}/{self.client_id}/refresh-token/session"

    def __repr__(self) -> str:
        return f"RefreshTokenGrant(client_id=..., login_url={self.login_url!r})"


@dataclass(frozen=True, repr=False)
class Session:
    access_token: str
    instance_url: str


class SessionSource:
    """Holds the current session; `refresh()` asks the token endpoint for a new one. Thread-safe.

    With `tokens`, the session is kept there under the grant's `cache_name`: it is loaded instead of fetched,
    and a refresh first adopts a session another process stored since `stale` was issued.
    """

    def __init__(self, api: JsonApi, grant: Grant, tokens: TokenStore | None = None) -> None:
        self.api = api
        self.grant = grant
        self._entry = SharedEntry(tokens, grant.cache_name) if tokens is not None else None
        self._session: Session | None = None
        self._lock = threading.Lock()

    def current(self) -> Session:
        with self._lock:
            if self._session is None:
                self._session = self._stored() or self._fetch()
            return self._session

    def refresh(self, stale: Session | None) -> Session:
        """A new session, unless another thread or replica already replaced `stale`. Raises AuthExpired if refused."""
        with self._lock:
            if self._session is None or self._session is stale:
                stored = self._stored()
                fresh = stored is not None and (stale is None or stored.access_token != stale.access_token)
                self._session = stored if stored is not None and fresh else self._fetch()
            return self._session

    def _stored(self) -> Session | None:
        value = self._entry.load() if self._entry else None
        if not value or not value.get("access_token") or not value.get("instance_url"):
            return None
        return Session(value["access_token"], value["instance_url"])

    def _fetch(self) -> Session:
        url = self.grant.login_url.rstrip("/") + "/services/oauth2/token"
        with reading(self.api.provider, lambda: "POST /services/oauth2/token"):
            body = decode_object(self.api.request("POST", url, data=self.grant.form()), self.api.provider)
            session = Session(str(body["access_token"]), str(body["instance_url"]).rstrip("/"))
        if self._entry:
            self._entry.save({"access_token": session.access_token, "instance_url": session.instance_url})
        return session
