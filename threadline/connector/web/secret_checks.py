"""Checking a presented secret against a configured one without revealing anything about it.

`hmac.compare_digest` is constant-time only for inputs of equal length: on a length mismatch it
returns at once, so response times would tell a guesser how long the secret is. Comparing SHA-256
digests (always 32 bytes) leaves nothing to learn but "no", and the configured secret is hashed
once, at start, so not even its hashing time depends on its length per request.
"""

from __future__ import annotations

import hashlib
import hmac


class KnownSecret:
    """A configured secret (bearer token, clientState...), kept only as its digest."""

    def __init__(self, secret: str) -> None:
        self._digest = _digest(secret)

    def matches(self, presented: str) -> bool:
        """True when `presented` equals the secret; time independent of where or how long they differ.

        Never raises: any str is accepted, non-ASCII and lone surrogates included.
        """
        return hmac.compare_digest(_digest(presented), self._digest)


def bearer_credentials(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None. The scheme is case-insensitive
    (RFC 7235 §2.1), so "bearer" and "BEARER" are the same scheme."""
    scheme, _, value = authorization.partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token else None


def _digest(value: str) -> bytes:
    # surrogatepass: a JSON body can carry a lone surrogate ("\ud800"), which a plain .encode() refuses (a 500).
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
