"""A rep connects their own Gmail: Google's authorization-code flow with PKCE, through google-auth-oauthlib's Flow.

`access_type=offline` and `prompt=consent` so Google returns a refresh token every time (also on a second
connect, when it would otherwise skip it). The scopes are the narrowest the features need: gmail.readonly,
plus gmail.send only when sequences send email. Who signed in is read from the mailbox itself
(`users.getProfile`), so the check is on the mailbox the tokens open, not on a name in an ID token.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from threadline.adapters.consent import ConsentRefused, ConsentStart, Granted
from threadline.adapters.errors import TransientError
from threadline.adapters.network_errors import network_problem
from threadline.adapters.token_store import TokenStore

PROVIDER = "gmail"
# requests-oauthlib logs the token request's body (the authorization code) and the token answer at DEBUG: a
# DEBUG log level must not put them in the log, so its logger never goes below WARNING.
for _chatty in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SEND = "https://www.googleapis.com/auth/gmail.send"
TIMEOUT = 30.0


def consent_scopes(sends: bool) -> tuple[str, ...]:
    """Read-only unless sequences send from the reps' mailboxes."""
    return (READONLY, SEND) if sends else (READONLY,)


def stored_name(address: str) -> str:
    """Where a connected Gmail mailbox's refresh token lives in the secrets table."""
    return f"gmail/{address.lower()}/connected"


class GmailConsent:
    """The consent flow for one OAuth client ("Web application") and its registered redirect URI."""

    provider = PROVIDER

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str, tokens: TokenStore, *,
                 scopes: Sequence[str] = (READONLY,), auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth",
                 token_uri: str = "https://oauth2.googleapis.com/token",
                 revoke_uri: str = "https://oauth2.googleapis.com/revoke",
                 base_url: str = "https://gmail.googleapis.com", ca_file: str | None = None) -> None:
        self.client_id, self._secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.tokens, self.scopes = tokens, tuple(scopes)
        self.auth_uri, self.token_uri, self.revoke_uri = auth_uri, token_uri, revoke_uri
        self.base_url, self.ca_file = base_url.rstrip("/"), ca_file

    def _flow(self, **kwargs: Any) -> Flow:
        config = {"web": {"client_id": self.client_id, "client_secret": self._secret, "auth_uri": self.auth_uri,
                          "token_uri": self.token_uri, "redirect_uris": [self.redirect_uri]}}
        return Flow.from_client_config(config, scopes=list(self.scopes), redirect_uri=self.redirect_uri, **kwargs)

    @property
    def consent_url(self) -> str:
        return self.auth_uri

    def begin(self, address: str) -> ConsentStart:
        flow = self._flow()
        url, state = flow.authorization_url(access_type="offline", prompt="consent", login_hint=address,
                                            include_granted_scopes="false")
        flow.oauth2session.close()
        return ConsentStart(url, state, {"state": state, "code_verifier": flow.code_verifier})

    def finish(self, address: str, flow: Mapping[str, Any], params: Mapping[str, str]) -> Granted:
        if params.get("error"):
            raise ConsentRefused(_google_error(params["error"]), error=params["error"])
        if not params.get("code"):
            raise ConsentRefused("Google sent you back without an authorization code. Open your link again.",
                                 error="no_code")
        session = self._flow(state=flow["state"], code_verifier=flow["code_verifier"])
        try:
            token = self._redeem(session, params["code"])
        finally:
            session.oauth2session.close()
        refresh_token = token.get("refresh_token")
        granted = tuple(_scopes(token.get("scope")))
        missing = [scope for scope in self.scopes if scope not in granted]
        if not refresh_token or missing:
            self._revoke(str(token.get("access_token") or ""))
            raise ConsentRefused("Threadline needs the permissions shown on Google's screen, and some were not "
                                 "granted (" + ", ".join(s.rsplit("/", 1)[-1] for s in missing or ["offline"]) +
                                 "). Open your link again and leave every box ticked.", error="scope")
        try:
            signed_in = self._mailbox_of(str(token["access_token"]))
        except TransientError:
            self._revoke(str(refresh_token))        # nothing kept: the rep tries again with a fresh grant
            raise
        record = json.dumps({"refresh_token": refresh_token, "scopes": list(granted), "client_id": self.client_id})
        return Granted(signed_in, granted, keep=lambda: self.tokens.put(stored_name(address), record),
                       discard=lambda: self._revoke(str(refresh_token)))

    def forget(self, address: str) -> bool:
        text = self.tokens.get(stored_name(address))
        if text is None:
            return False
        self._revoke(str(json.loads(text).get("refresh_token") or ""))
        return self.tokens.delete(stored_name(address))

    def _redeem(self, flow: Flow, code: str) -> dict[str, Any]:
        # `code=` rather than the callback URL: the state was already checked against the store, and oauthlib
        # would refuse an http:// callback (a loopback public_url) that Google itself accepts.
        try:
            return dict(flow.fetch_token(code=code, verify=self.ca_file or True, timeout=TIMEOUT))
        except Warning as exc:                  # oauthlib: "Scope has changed" (the rep unticked a box)
            token = getattr(exc, "token", None)
            if isinstance(token, dict):
                return dict(token)
            raise ConsentRefused("Google answered the code with a grant Threadline cannot read. Open your link "
                                 "again.", error="scope") from None
        except OAuth2Error as exc:
            raise ConsentRefused(f"Google refused the sign-in ({exc.error}). Open your link again; if it keeps "
                                 "happening, ask your Threadline admin.", error=str(exc.error)) from None
        except requests.RequestException as exc:
            raise TransientError(f"Google's token endpoint: {network_problem(exc, httpx.URL(self.token_uri).host)}",
                                 provider=PROVIDER) from exc

    def _mailbox_of(self, access_token: str) -> str:
        try:
            with httpx.Client(verify=self._verify(), timeout=TIMEOUT) as http:
                answer = http.get(f"{self.base_url}/gmail/v1/users/me/profile",
                                  headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise TransientError(f"Gmail: {network_problem(exc, httpx.URL(self.base_url).host)}",
                                 provider=PROVIDER) from exc
        if answer.status_code != 200:
            self._revoke(access_token)
            raise ConsentRefused(f"Gmail would not open the mailbox you signed in with (HTTP {answer.status_code}). "
                                 "Sign in with your work Google account.", error=f"http_{answer.status_code}")
        return str(answer.json().get("emailAddress", "")).lower()

    def _revoke(self, token: str) -> None:
        """Best effort: an unrevoked token is still never stored, and Google expires unused grants itself."""
        if not token:
            return
        try:
            with httpx.Client(verify=self._verify(), timeout=TIMEOUT) as http:
                http.post(self.revoke_uri, data={"token": token})
        except httpx.HTTPError:
            pass

    def _verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True


def _scopes(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    return [str(scope) for scope in value or []]


def _google_error(error: str) -> str:
    if error == "access_denied":
        return "You chose not to allow access, so nothing was connected. Open the link again to try once more."
    return f"Google did not complete the sign-in ({error[:60]}). Open the link again; if it keeps happening, ask " \
           "your Threadline admin."
