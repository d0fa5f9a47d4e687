"""Authorization codes: what a user consented to, waiting at the token endpoint (RFC 6749 4.1, RFC 7636).

Shared by the Google and Microsoft simulators; each maps a `CodeProblem` to its own error
body. A code is single-use: the first redemption by its client consumes it, whatever the
outcome, and a later one is told it was already redeemed (until it would have expired).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from threadline.sandbox.pkce import verifier_matches

CODE_LIFETIME_SECONDS = 600               # both providers: about ten minutes


class CodeProblem(Enum):
    """Why a token request's code was refused."""

    UNKNOWN = "unknown"                   # never issued, or issued to another client
    EXPIRED = "expired"
    REDEEMED = "redeemed"
    REDIRECT_URI = "redirect_uri"         # not the redirect_uri of the authorization request
    VERIFIER_MISSING = "verifier_missing"
    VERIFIER_WRONG = "verifier_wrong"


class CodeRejected(Exception):
    """The code cannot be exchanged; `problem` says why."""

    def __init__(self, problem: CodeProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class AuthCode:
    """What the user approved, and what the token request must repeat to redeem it."""

    client_id: str
    user: str                             # Google: the address; Microsoft: the user's object id
    scopes: frozenset[str]
    redirect_uri: str | None = None       # None: a code minted by a test helper, any redirect_uri redeems it
    code_challenge: str | None = None     # None: no PKCE in the authorization request
    challenge_method: str = "S256"
    nonce: str | None = None              # OpenID Connect: echoed in the id_token
    offline: bool = False                 # a refresh token goes with the access token
    expires_at: float = 0.0


class AuthCodes:
    """Issued codes and the ones already redeemed. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._codes: dict[str, AuthCode] = {}
        self._redeemed: dict[str, float] = {}         # code -> when it would have expired
        self._lock = threading.Lock()

    def issue(self, code: AuthCode, prefix: str) -> str:
        """Store `code` for ten minutes; returns the code string (`prefix` + random)."""
        value = prefix + secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._forget_expired(now)
            self._codes[value] = replace(code, expires_at=now + CODE_LIFETIME_SECONDS)
        return value

    def redeem(self, value: str, client_id: str, redirect_uri: str | None, verifier: str | None) -> AuthCode:
        """The code's grant, if this token request may have it; consumed either way. Raises CodeRejected."""
        with self._lock:
            if value in self._redeemed:
                raise CodeRejected(CodeProblem.REDEEMED)
            code = self._codes.get(value)
            if code is None or code.client_id != client_id:
                raise CodeRejected(CodeProblem.UNKNOWN)
            del self._codes[value]
            self._redeemed[value] = code.expires_at
        if code.expires_at <= self.clock():
            raise CodeRejected(CodeProblem.EXPIRED)
        if code.redirect_uri is not None and redirect_uri != code.redirect_uri:
            raise CodeRejected(CodeProblem.REDIRECT_URI)
        if code.code_challenge is not None:
            if not verifier:
                raise CodeRejected(CodeProblem.VERIFIER_MISSING)
            if not verifier_matches(verifier, code.code_challenge, code.challenge_method):
                raise CodeRejected(CodeProblem.VERIFIER_WRONG)
        return code

    def clear(self) -> None:
        with self._lock:
            self._codes.clear()
            self._redeemed.clear()

    def _forget_expired(self, now: float) -> None:
        for value in [v for v, code in self._codes.items() if code.expires_at <= now]:
            del self._codes[value]
        for value in [v for v, expires in self._redeemed.items() if expires <= now]:
            del self._redeemed[value]
