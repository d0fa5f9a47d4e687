"""Sealing secrets with Fernet keys: the first key encrypts, every key decrypts (MultiFernet), for rotation.

A key is never stored or printed; rows and messages carry its fingerprint, a short hash
that names the key without revealing it. Error messages never contain key or plaintext.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

FINGERPRINT_CHARS = 12


class SecretKeyError(Exception):
    """A key problem the operator must fix (missing, malformed or not the key the rows need)."""


class MalformedKey(SecretKeyError):
    """A configured key is not a Fernet key (32 url-safe base64-encoded bytes)."""


class WrongKey(SecretKeyError):
    """A sealed secret was encrypted under a key that is not configured (or was altered)."""

    def __init__(self, message: str, *, needed: Sequence[str] = (), configured: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.needed = list(needed)
        self.configured = list(configured)


def fingerprint(key: str | bytes) -> str:
    """A short, stable name for `key` (a hash prefix: it does not reveal the key)."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(b"threadline-secret-key:" + raw.strip()).hexdigest()[:FINGERPRINT_CHARS]


def new_key() -> str:
    """A fresh random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode()


def _fernet(key: str, position: int, origin: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:                      # binascii.Error is a ValueError; neither message holds the key
        raise MalformedKey(f"key {position} in {origin} is not a Fernet key (32 url-safe base64 bytes)") from None


@dataclass(frozen=True)
class Sealed:
    """A secret as stored: the ciphertext and the fingerprint of the key that made it."""

    key_id: str
    ciphertext: bytes


class KeyRing:
    """Ordered Fernet keys. `seal` uses the first (primary); `open` accepts any of them."""

    def __init__(self, keys: Iterable[str], *, origin: str = "the key list") -> None:
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise MalformedKey(f"{origin} holds no key")
        self._by_id = {fingerprint(k): _fernet(k, i, origin) for i, k in enumerate(cleaned, 1)}
        self.fingerprints = list(dict.fromkeys(fingerprint(k) for k in cleaned))
        self._any = MultiFernet([self._by_id[f] for f in self.fingerprints])

    @property
    def primary(self) -> str:
        """The fingerprint of the key new secrets are sealed with."""
        return self.fingerprints[0]

    def seal(self, plaintext: str) -> Sealed:
        return Sealed(self.primary, self._by_id[self.primary].encrypt(plaintext.encode()))

    def open(self, sealed: Sealed, *, what: str = "a secret") -> str:
        """The plaintext. Raises WrongKey (naming fingerprints only) if no configured key opens it."""
        fernet = self._by_id.get(sealed.key_id)
        try:
            return (fernet or self._any).decrypt(sealed.ciphertext).decode()
        except InvalidToken:
            pass
        if fernet is None:
            raise WrongKey(f"{what} is encrypted under key {sealed.key_id}, which is not configured "
                           f"(configured: {', '.join(self.fingerprints)})",
                           needed=[sealed.key_id], configured=self.fingerprints)
        raise WrongKey(f"{what} does not decrypt under key {sealed.key_id}: the row was altered",
                       needed=[sealed.key_id], configured=self.fingerprints)

    def __repr__(self) -> str:
        return f"KeyRing(primary={self.primary!r}, keys={len(self.fingerprints)})"
