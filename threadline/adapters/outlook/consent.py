"""A rep connects their own Outlook mailbox: the auth-code flow with PKCE through MSAL.

MSAL's `initiate_auth_code_flow` makes the state, nonce and PKCE verifier; `acquire_token_by_auth_code_flow`
checks the state and the ID token's nonce and redeems the code. The exchange fills a fresh in-memory cache;
only once the caller has accepted who signed in is that cache (with the refresh token) written to the store
under the mailbox's name, where the delegated token source of every replica reads it.
Scopes: Mail.Read, plus Mail.Send only when sequences send; MSAL adds openid, profile and offline_access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msal

from threadline.adapters.consent import ConsentRefused, ConsentStart, Granted
from threadline.adapters.outlook.auth import AUTHORITY_HOST, _guarded, _http_options, _instance_discovery
from threadline.adapters.outlook.errors import from_msal
from threadline.adapters.token_store import TokenStore

PROVIDER = "outlook"
_REFUSALS = {"access_denied": "You chose not to allow access, so nothing was connected. Open the link again to "
                              "try once more.",
             "consent_required": "Your organisation needs an administrator to approve Threadline first. Ask your "
                                 "IT admin to grant consent to the app, then open the link again."}


def consent_scopes(sends: bool) -> tuple[str, ...]:
    """Read-only unless sequences send from the reps' mailboxes."""
    return ("Mail.Read", "Mail.Send") if sends else ("Mail.Read",)


def stored_name(address: str) -> str:
    """Where a delegated mailbox's MSAL cache lives in the secrets table (the same for `auth outlook`)."""
    return f"outlook/{address.lower()}/delegated-tokens"


class OutlookConsent:
    """The consent flow for one app registration (platform "Web") and its registered redirect URI."""

    provider = PROVIDER

    def __init__(self, tenant: str, client_id: str, client_secret: str, redirect_uri: str, tokens: TokenStore, *,
                 scopes: tuple[str, ...] = ("Mail.Read",), authority_host: str = AUTHORITY_HOST,
                 ca_file: str | None = None, http_client: Any = None) -> None:
        self.tenant, self.client_id, self._secret = tenant, client_id, client_secret
        self.redirect_uri, self.tokens, self.scopes = redirect_uri, tokens, tuple(scopes)
        self.authority = f"{authority_host.rstrip('/')}/{tenant}"
        self._discovery = _instance_discovery(authority_host, None)
        self._http = _http_options(ca_file or True, http_client)["http_client"]

    def _app(self, cache: msal.SerializableTokenCache | None = None) -> Any:
        return _guarded(lambda: msal.ConfidentialClientApplication(
            self.client_id, client_credential=self._secret, authority=self.authority, token_cache=cache,
            instance_discovery=self._discovery, http_client=self._http))

    @property
    def consent_url(self) -> str:
        return self.authority

    def begin(self, address: str) -> ConsentStart:
        flow = _guarded(lambda: self._app().initiate_auth_code_flow(
            list(self.scopes), redirect_uri=self.redirect_uri, login_hint=address, prompt="select_account"))
        return ConsentStart(str(flow["auth_uri"]), str(flow["state"]), dict(flow))

    def finish(self, address: str, flow: Mapping[str, Any], params: Mapping[str, str]) -> Granted:
        if params.get("error"):
            error = params["error"]
            raise ConsentRefused(_REFUSALS.get(error, f"Microsoft did not complete the sign-in ({error[:60]}). "
                                                      "Open the link again; if it keeps happening, ask your "
                                                      "Threadline admin."), error=error)
        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        try:
            result = _guarded(lambda: app.acquire_token_by_auth_code_flow(dict(flow), dict(params)))
        except ValueError as exc:              # MSAL: state mismatch (already checked against the store) and the like
            raise ConsentRefused("The sign-in answer did not match this link. Open your link again.",
                                 error="state") from exc
        if not result or "access_token" not in result:
            error = str((result or {}).get("error", ""))
            if error in ("invalid_grant", "access_denied", "consent_required", "interaction_required"):
                raise ConsentRefused(_REFUSALS.get(error, f"Microsoft refused the sign-in ({error}). Open your "
                                                          "link again."), error=error)
            raise from_msal(result)
        granted = tuple(str(result.get("scope", "")).split())
        missing = [scope for scope in self.scopes if not any(g.lower().endswith(scope.lower()) for g in granted)]
        if missing:
            raise ConsentRefused("Microsoft granted less than Threadline needs (" + ", ".join(missing) + "). Ask "
                                 "your IT admin to allow these permissions for the app, then open the link again.",
                                 error="scope")
        claims = result.get("id_token_claims") or {}
        # Not the `email` claim: Entra does not verify it (the "nOAuth" mix-up); the UPN is the account's own.
        signed_in = str(claims.get("preferred_username") or "").lower()
        serialized = cache.serialize()
        return Granted(signed_in, granted, keep=lambda: self.tokens.put(stored_name(address), serialized),
                       discard=lambda: None)    # Microsoft has no per-app revocation short of signing the user out

    def forget(self, address: str) -> bool:
        # Microsoft offers no revocation of one app's refresh token (revokeSignInSessions signs the user out of
        # every app); dropping the only copy ends Threadline's access, and the rep can remove the app at
        # myapps.microsoft.com.
        return self.tokens.delete(stored_name(address))

    def close(self) -> None:
        self._http.close()
