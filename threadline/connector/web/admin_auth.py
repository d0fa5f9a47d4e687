"""Who may see admin endpoints: a bearer token, or a session cookie the login form issued for it.

The session cookie carries only an expiry and an HMAC of it, keyed from the admin token:
nothing is stored server-side, every replica accepts it, and rotating the token ends
every session. Comparisons are constant-time. The token itself is never logged or echoed.
A form that acts (the status page's connect-link buttons) carries an HMAC of the session cookie too
(`csrf_token`), on top of the cookie's SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from threadline.connector.web.limits import FailureWindow
from threadline.connector.web.secret_checks import KnownSecret, bearer_credentials

COOKIE = "threadline_session"
SESSION_SECONDS = 12 * 3600
LOGIN_FAILURES_PER_MINUTE = 10


class AdminAuth:
    """Checks admin credentials for one token. `secure` marks the cookie Secure (https public_url)."""

    def __init__(self, token: str, *, secure: bool, clock: Callable[[], float] = time.time,
                 session_seconds: int = SESSION_SECONDS) -> None:
        self._token = KnownSecret(token)
        # A key of its own for cookies, so a cookie never reveals anything usable as the token.
        self._key = hmac.new(token.encode(), b"threadline status-page session", hashlib.sha256).digest()
        self.secure = secure
        self._clock = clock
        self.session_seconds = session_seconds

    def token_matches(self, candidate: str) -> bool:
        """Constant-time (over digests, so not even the length leaks)."""
        return self._token.matches(candidate)

    def allows(self, request: Request) -> bool:
        """A matching `Authorization: Bearer` header, or a valid session cookie."""
        token = bearer_credentials(request.headers.get("authorization", ""))
        if token is not None:
            return self.token_matches(token)
        return self.session_valid(request.cookies.get(COOKIE, ""))

    def session_valid(self, cookie: str) -> bool:
        expires, _, signature = cookie.partition(".")
        # bytes: compare_digest raises TypeError on a non-ASCII str (such a cookie was a 500; test_fuzz_payloads.py)
        if not expires.isdigit() or not hmac.compare_digest(signature.encode(), self._sign(expires).encode()):
            return False
        return int(expires) > self._clock()

    def csrf_token(self, request: Request) -> str:
        """The value the status page's forms carry: an HMAC of this browser's session cookie, so a page from
        elsewhere cannot know it. Empty without a valid session (a bearer-token request needs none)."""
        cookie = request.cookies.get(COOKIE, "")
        return self._csrf(cookie) if self.session_valid(cookie) else ""

    def csrf_valid(self, request: Request, value: str) -> bool:
        """Whether an admitted POST may act: a bearer-token request (no browser adds that header on its own),
        or a valid session whose form carried its `csrf_token`. Constant-time."""
        token = bearer_credentials(request.headers.get("authorization", ""))
        if token is not None:
            return self.token_matches(token)
        cookie = request.cookies.get(COOKIE, "")
        return bool(value) and self.session_valid(cookie) and hmac.compare_digest(
            value.encode("utf-8", "replace"), self._csrf(cookie).encode())

    def start_session(self, response: Response) -> None:
        """Set the signed session cookie on `response` (HttpOnly, SameSite=Strict, Secure over https)."""
        expires = str(int(self._clock()) + self.session_seconds)
        response.set_cookie(COOKIE, f"{expires}.{self._sign(expires)}", max_age=self.session_seconds, path="/",
                            httponly=True, samesite="strict", secure=self.secure)

    def end_session(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure)

    def _sign(self, expires: str) -> str:
        return hmac.new(self._key, f"session:{expires}".encode(), hashlib.sha256).hexdigest()

    def _csrf(self, cookie: str) -> str:
        return hmac.new(self._key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


class LoginThrottle:
    """At most `limit` failed logins per `window` seconds (process-wide: behind a proxy every client looks alike).

    Guessing a long token is hopeless anyway; this keeps a short one from being ground down through the form.
    The counting is the HTTP surface's one failure limiter (limits.FailureWindow), here with a single key.
    """

    def __init__(self, limit: int = LOGIN_FAILURES_PER_MINUTE, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window = limit, window
        self._window = FailureWindow(limit, window, clock)

    def allowed(self) -> bool:
        return self._window.allowed(_EVERYONE)

    def failed(self) -> None:
        self._window.failed(_EVERYONE)

    def retry_after(self) -> int:
        """Whole seconds until a login may be tried again (for the 429's Retry-After)."""
        return max(1, math.ceil(self._window.retry_after(_EVERYONE)))


_EVERYONE = "login"
