"""`POST /oauth/v1/token` for OAuth (public) apps: refresh-token grant, short-lived access tokens."""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from threadline.sandbox.settings import SandboxSettings


class OAuthTokens:
    """Issues access tokens for the configured client and refresh token; remembers their expiry."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def accepts(self, token: str) -> bool:
        with self._lock:
            expires = self._issued.get(token)
        return expires is not None and expires > time.time()

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()

    async def token(self, request: Request) -> Response:
        # urlencoded body parsed by hand: starlette's form() needs python-multipart
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        s = self.settings
        if form.get("grant_type") != "refresh_token":
            return self._error("unsupported_grant_type", "grant_type must be refresh_token")
        if form.get("client_id") != s.hubspot_client_id or form.get("client_secret") != s.hubspot_app_secret:
            return self._error("invalid_client", "missing or unknown client_id/client_secret", status=401)
        if form.get("refresh_token") != s.hubspot_refresh_token:
            return self._error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        access = "sandbox-oauth-" + secrets.token_urlsafe(16)
        with self._lock:
            self._issued[access] = time.time() + s.token_ttl_seconds
        return JSONResponse({"token_type": "bearer", "access_token": access,
                             "refresh_token": s.hubspot_refresh_token, "expires_in": s.token_ttl_seconds})

    @staticmethod
    def _error(status_name: str, message: str, status: int = 400) -> Response:
        return JSONResponse({"status": status_name, "message": message,
                             "correlationId": secrets.token_hex(8)}, status_code=status)
