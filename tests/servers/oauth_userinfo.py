"""A tiny OAuth2 "userinfo" endpoint so Dovecot can check XOAUTH2 access tokens locally.

Dovecot's oauth2 passdb in `introspection_mode = auth` sends the client's token
as `Authorization: Bearer <token>` and reads the user name from the JSON answer.
Tests register tokens here; an unknown token is reported inactive, so Dovecot
answers AUTHENTICATIONFAILED like a real provider rejecting a revoked token.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class UserinfoEndpoint:
    """Answers GET /userinfo for registered bearer tokens on a loopback port, in a thread."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-userinfo", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/userinfo"

    def grant(self, token: str, email: str) -> None:
        """Make `token` a valid access token for `email`."""
        self._tokens[token] = email

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def start(self) -> UserinfoEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        tokens = self._tokens

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                header = self.headers.get("Authorization", "")
                email = tokens.get(header.removeprefix("Bearer ").strip())
                # Dovecot maps "active" != "true" to a plain authentication failure (a 401 here would be
                # reported to the client as a temporary server failure instead).
                status, body = 200, ({"email": email, "active": "true"} if email else {"active": "false"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
