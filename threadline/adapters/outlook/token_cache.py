"""MSAL's token cache persisted to a file, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from configuration or the environment (`THREADLINE_TOKEN_CACHE_KEY`);
without it the file is unreadable, so refresh tokens never sit on disk in clear.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import msal
from cryptography.fernet import Fernet, InvalidToken

from threadline.adapters.errors import AuthExpired

KEY_ENV = "THREADLINE_TOKEN_CACHE_KEY"


class EncryptedTokenCache(msal.SerializableTokenCache):
    """A `SerializableTokenCache` loaded from and saved to `path`, encrypted with `key`.

    `save()` writes only when MSAL changed the cache, atomically, with mode 0600.
    Raises AuthExpired at construction if the file cannot be decrypted with `key`.
    """

    def __init__(self, path: str | Path, key: str | bytes) -> None:
        super().__init__()
        self.path = Path(path)
        self._fernet = Fernet(key)
        self._save_lock = threading.Lock()
        if self.path.exists():
            try:
                self.deserialize(self._fernet.decrypt(self.path.read_bytes()).decode())
            except InvalidToken:
                raise AuthExpired(f"token cache {self.path} cannot be decrypted with this key",
                                  provider="outlook") from None

    @classmethod
    def from_env(cls, path: str | Path, variable: str = KEY_ENV) -> EncryptedTokenCache:
        key = os.environ.get(variable)
        if not key:
            raise AuthExpired(f"set {variable} to the token cache key (see EncryptedTokenCache.generate_key)",
                              provider="outlook")
        return cls(path, key)

    @staticmethod
    def generate_key() -> str:
        """A new random key, to keep in the secret store / environment."""
        return Fernet.generate_key().decode()

    def save(self) -> None:
        """Persist the cache if MSAL changed it since the last save."""
        with self._save_lock:
            if not self.has_state_changed:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(self._fernet.encrypt(self.serialize().encode()))
            os.replace(tmp, self.path)
            self.has_state_changed = False
