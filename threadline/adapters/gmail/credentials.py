"""Google credentials for one mailbox, from configuration.

Either a service account with domain-wide delegation (subject = the mailbox address)
or an installed app's client id/secret + the user's refresh token. Both refresh
themselves at `token_uri` (the sandbox's `/token` in tests and the demo).
`SharedTokenCredentials` keeps the access token in a TokenStore, so replicas and
restarts reuse it instead of each asking Google for a new one.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from threadline.adapters.token_store import SharedEntry, TokenStore

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Read mail, and send sequence steps from the rep's own mailbox.
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send")


def from_service_account(info: Mapping[str, Any] | str | Path, subject: str,
                         scopes: Sequence[str] = DEFAULT_SCOPES, token_uri: str | None = None) -> Credentials:
    """Delegated credentials acting as `subject`. `info` is the key JSON (dict, JSON text or a file path)."""
    if isinstance(info, Path) or (isinstance(info, str) and not info.lstrip().startswith("{")):
        text = Path(info).read_text()
    elif isinstance(info, str):
        text = info
    else:
        text = json.dumps(dict(info), sort_keys=True)
    return _service_account(text, tuple(scopes), token_uri).with_subject(subject)


@functools.lru_cache(maxsize=64)
def _service_account(key_json: str, scopes: tuple[str, ...], token_uri: str | None) -> service_account.Credentials:
    """One parsed key per service account: loading an RSA key costs ~0.1 s (cryptography checks it), which a
    team of 2,000 found mailboxes paid 2,000 times at each start. `with_subject` shares the parsed signer.
    Keyed by the key's JSON text, so a rotated key file is parsed anew."""
    data = json.loads(key_json)
    if token_uri:
        data["token_uri"] = token_uri
    return service_account.Credentials.from_service_account_info(data, scopes=list(scopes))


def from_refresh_token(client_id: str, client_secret: str, refresh_token: str,
                       token_uri: str = GOOGLE_TOKEN_URI, scopes: Sequence[str] | None = None) -> Credentials:
    """User credentials that mint access tokens from a refresh token (installed-app flow)."""
    return user_credentials.Credentials(None, refresh_token=refresh_token, token_uri=token_uri,
                                        client_id=client_id, client_secret=client_secret,
                                        scopes=list(scopes) if scopes else None)


class SharedTokenCredentials(Credentials):
    """`inner` credentials whose access token (and expiry) live in `tokens` under `name`.

    The stored token is adopted at start. When google-auth asks for a refresh (token
    expired, or a 401), a token another replica stored meanwhile is adopted if it is a
    different, unexpired one; otherwise `inner` refreshes and the new token is stored.
    """

    def __init__(self, inner: Credentials, tokens: TokenStore, name: str) -> None:
        super().__init__()
        self._inner = inner
        self._entry = SharedEntry(tokens, name)
        self._lock = threading.Lock()
        self._adopt(self._entry.load())

    def refresh(self, request: Any) -> None:
        with self._lock:
            rejected = self.token
            if self._adopt(self._entry.load()) and self.token != rejected:
                return
            self._inner.refresh(request)
            self.token, self.expiry = self._inner.token, self._inner.expiry
            expiry = self.expiry.isoformat() if self.expiry else None
            self._entry.save({"access_token": self.token, "expiry": expiry})

    def _adopt(self, stored: dict[str, Any] | None) -> bool:
        """Take the stored token if it is still valid; True if taken."""
        if not stored or not stored.get("access_token"):
            return False
        token, expiry = self.token, self.expiry
        # google-auth compares naive UTC datetimes.
        self.token = stored["access_token"]
        self.expiry = datetime.fromisoformat(stored["expiry"]) if stored.get("expiry") else None
        if self.valid:
            return True
        self.token, self.expiry = token, expiry
        return False
