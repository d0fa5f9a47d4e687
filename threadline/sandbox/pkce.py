"""PKCE (RFC 7636) as Google's and Microsoft's authorization servers check it.

The client sends `code_challenge` (+ `code_challenge_method`, S256 or plain) to the
authorization endpoint and the matching `code_verifier` to the token endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

METHODS = ("S256", "plain")
# 43-128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636 section 4.1); an S256 challenge is 43.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding: the S256 challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def valid_challenge(challenge: str, method: str) -> bool:
    """Whether an authorization request's challenge is well formed for its method."""
    return method in METHODS and _VERIFIER.match(challenge) is not None


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """Whether `verifier` (from the token request) answers `challenge` (from the authorization request)."""
    if not _VERIFIER.match(verifier):
        return False
    expected = s256(verifier) if method == "S256" else verifier
    return hmac.compare_digest(expected.encode(), challenge.encode())
