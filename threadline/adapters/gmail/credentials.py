"""Google credentials for one mailbox, from configuration.

Either a service account with domain-wide delegation (subject = the mailbox address)
or an installed app's client id/secret + the user's refresh token. Both refresh
themselves at `token_uri` (the sandbox's `/token` in tests and the demo).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Read mail, and send sequence steps from the rep's own mailbox.
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send")


def from_service_account(info: Mapping[str, Any] | str | Path, subject: str,
                         scopes: Sequence[str] = DEFAULT_SCOPES, token_uri: str | None = None) -> Credentials:
    """Delegated credentials acting as `subject`. `info` is the key JSON (dict, JSON text or a file path)."""
    if isinstance(info, Path) or (isinstance(info, str) and not info.lstrip().startswith("{")):
        info = json.loads(Path(info).read_text())
    elif isinstance(info, str):
        info = json.loads(info)
    data = dict(info)
    if token_uri:
        data["token_uri"] = token_uri
    creds = service_account.Credentials.from_service_account_info(data, scopes=list(scopes))
    return creds.with_subject(subject)


def from_refresh_token(client_id: str, client_secret: str, refresh_token: str,
                       token_uri: str = GOOGLE_TOKEN_URI, scopes: Sequence[str] | None = None) -> Credentials:
    """User credentials that mint access tokens from a refresh token (installed-app flow)."""
    return user_credentials.Credentials(None, refresh_token=refresh_token, token_uri=token_uri,
                                        client_id=client_id, client_secret=client_secret,
                                        scopes=list(scopes) if scopes else None)
