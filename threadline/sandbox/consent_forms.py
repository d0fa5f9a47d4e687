"""Sign-in forms handed to a browser and not yet answered, each bound to that browser (CSRF protection).

The authorization endpoint keeps the authorization request on the server and puts a random
form token in the page; the browser gets a random cookie. The consent POST must carry both, and
a form is answered once. Another site's page cannot read the token, and a token lifted from one
browser is refused in another (login CSRF: its cookie differs).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response

T = TypeVar("T")
FORM_LIFETIME_SECONDS = 900


@dataclass(frozen=True)
class _Form(Generic[T]):
    browser: str
    request: T
    expires_at: float


class ConsentForms(Generic[T]):
    """Open forms by token, for one provider's sign-in page (its own cookie). Thread-safe."""

    def __init__(self, cookie: str, clock: Callable[[], float] = time.time) -> None:
        self.cookie = cookie
        self.clock = clock
        self._forms: dict[str, _Form[T]] = {}
        self._lock = threading.Lock()

    def browser_of(self, request: Request) -> str | None:
        """The browser id the request's cookie carries, if any."""
        return request.cookies.get(self.cookie)

    def open(self, request: T, browser: str | None) -> tuple[str, str]:
        """Keep `request` for the page's answer; returns (form token, browser id to set as the cookie)."""
        browser = browser or secrets.token_urlsafe(24)
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            for old in [t for t, form in self._forms.items() if form.expires_at <= now]:
                del self._forms[old]
            self._forms[token] = _Form(browser, request, now + FORM_LIFETIME_SECONDS)
        return token, browser

    def take(self, token: str, browser: str | None) -> T | None:
        """The request behind `token` if this browser opened it and it has not expired; a form answers once."""
        with self._lock:
            form = self._forms.pop(token, None)
        if form is None or browser is None or form.expires_at <= self.clock():
            return None
        return form.request if hmac.compare_digest(form.browser, browser) else None

    def set_cookie(self, response: Response, browser: str, *, secure: bool) -> None:
        """Bind the browser: HttpOnly, SameSite=Lax (the consent POST is same-site), Secure over https."""
        response.set_cookie(self.cookie, browser, max_age=FORM_LIFETIME_SECONDS, path="/", secure=secure,
                            httponly=True, samesite="lax")

    def clear(self) -> None:
        with self._lock:
            self._forms.clear()
