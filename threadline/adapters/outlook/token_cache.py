"""MSAL token caches that outlive the process: in a TokenStore (encrypted in Threadline's store), or,
for installs from before the store held secrets, in a Fernet-encrypted file.

A delegated cache holds the user's refresh token (which Microsoft rotates), so it must be
saved after every change and reloaded when another replica may have refreshed it.
`import_file_once` moves a legacy file cache into the store.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import msal
import structlog
from cryptography.fernet import Fernet, InvalidToken

from threadline.adapters.errors import AuthExpired
from threadline.adapters.token_store import SharedEntry, TokenStore

KEY_ENV = "THREADLINE_TOKEN_CACHE_KEY"
log = structlog.get_logger("threadline.outlook")


class PersistentTokenCache(msal.SerializableTokenCache):
    """A SerializableTokenCache with a place to live: `reload()` reads it, `save()` writes it if MSAL changed it."""

    has_state_changed: bool     # MSAL sets and clears it; msal has no type information to say so

    def reload(self) -> None:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError


class StoredTokenCache(PersistentTokenCache):
    """An MSAL cache kept in a TokenStore under `name` (shared by replicas, surviving restarts).

    Nothing is read at construction: the token sources `reload()` before their first use.
    """

    def __init__(self, tokens: TokenStore, name: str) -> None:
        super().__init__()
        self._entry = SharedEntry(tokens, name)

    def reload(self) -> None:
        stored = self._entry.load()
        if stored is not None:
            self.deserialize(json.dumps(stored))

    def save(self) -> None:
        if self.has_state_changed:
            self._entry.save(json.loads(self.serialize()))


class EncryptedTokenCache(PersistentTokenCache):
    """A `SerializableTokenCache` loaded from and saved to `path`, encrypted with `key` (the legacy place).

    `save()` writes only when MSAL changed the cache, atomically, with mode 0600.
    Raises AuthExpired at construction if the file cannot be decrypted with `key`.
    """

    def __init__(self, path: str | Path, key: str | bytes) -> None:
        super().__init__()
        self.path = Path(path)
        self._fernet = Fernet(key)
        self._save_lock = threading.Lock()
        self.reload()

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

    def reload(self) -> None:
        if not self.path.exists():
            return
        try:
            self.deserialize(self._fernet.decrypt(self.path.read_bytes()).decode())
        except InvalidToken:
            raise AuthExpired(f"token cache {self.path} cannot be decrypted with this key",
                              provider="outlook") from None

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


def import_file_once(tokens: TokenStore, name: str, path: Path, variable: str = KEY_ENV) -> bool:
    """Copy the legacy file cache at `path` into `tokens` unless `name` is already there. True if copied.

    Raises AuthExpired if the file exists but `variable` is unset or holds the wrong key.
    """
    if tokens.get(name) is not None or not path.exists():
        return False
    legacy = EncryptedTokenCache.from_env(path, variable)
    tokens.put(name, legacy.serialize())
    log.info("outlook.token_cache_imported", path=str(path), into=name,
             note="the store holds the tokens from now on; the file is no longer read or written")
    return True
