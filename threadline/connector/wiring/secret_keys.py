"""Where the secret key comes from, and the token store the adapters get.

Keys: `THREADLINE_SECRET_KEY` (one or more comma-separated Fernet keys), else the file
`store.secret_key_file` (one key per line; `#` comments). The first key encrypts, every key
decrypts, so rotation is: put the new key first, `threadline secrets rotate`, drop the old one.

Without a key nothing secret is ever written: access tokens then live in process memory
only (as before), and what must be stored (a delegated Outlook sign-in, `secrets` commands)
stops with `SecretsUnusable` (exit 2) saying how to make a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import structlog

from threadline.adapters.token_store import MemoryTokenStore, TokenStore
from threadline.config.models import Settings
from threadline.sync.store.database import Store
from threadline.sync.store.sealed import KeyRing, SecretKeyError, WrongKey
from threadline.sync.store.secret_store import SecretStore

KEY_ENV = "THREADLINE_SECRET_KEY"
HOW_TO_MAKE = "make one with `threadline secrets new-key`"
log = structlog.get_logger("threadline.secrets")

try:        # typer >= 0.2x carries its own click; its commands only turn that one's exceptions into exit codes
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import ClickException  # type: ignore[assignment]


class SecretsUnusable(ClickException):
    """The secret key is missing, malformed or not the one the stored secrets need. Exit code 2, no traceback."""

    exit_code = 2


def no_key_message(why: str) -> str:
    return (f"{why} needs a secret key: set {KEY_ENV} (comma-separated Fernet keys, the first encrypts) "
            f"or store.secret_key_file (one key per line); {HOW_TO_MAKE}")


def load_keys(settings: Settings, env: Mapping[str, str] | None = None) -> KeyRing | None:
    """The configured keys, or None when no key is configured. Raises SecretsUnusable for a bad key or file."""
    env = os.environ if env is None else env
    try:
        if env.get(KEY_ENV, "").strip():
            return KeyRing(env[KEY_ENV].split(","), origin=KEY_ENV)
        path = settings.store.secret_key_file
        if path is None:
            return None
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SecretsUnusable(f"store.secret_key_file {path} cannot be read ({exc.strerror})") from None
        return KeyRing([line for line in lines if not line.lstrip().startswith("#")],
                       origin=f"store.secret_key_file {path}")
    except SecretKeyError as exc:
        raise SecretsUnusable(f"{exc}; {HOW_TO_MAKE}") from None


def require_keys(settings: Settings, why: str, env: Mapping[str, str] | None = None) -> KeyRing:
    """The configured keys; SecretsUnusable naming the variable, the config key and `new-key` if there are none."""
    keys = load_keys(settings, env)
    if keys is None:
        raise SecretsUnusable(no_key_message(why))
    return keys


def wrong_key(exc: WrongKey) -> SecretsUnusable:
    return SecretsUnusable(f"{exc}. Configure the key with fingerprint {', '.join(exc.needed)} in {KEY_ENV} or "
                           "store.secret_key_file (keys are matched by fingerprint: `threadline secrets status`)")


def secret_store(settings: Settings, store: Store, env: Mapping[str, str] | None = None) -> SecretStore | None:
    """The store's secrets under the configured keys (checked against the rows), or None without a key."""
    keys = load_keys(settings, env)
    if keys is None:
        return None
    secrets = SecretStore(store, keys)
    try:
        secrets.check_keys()
    except WrongKey as exc:
        raise wrong_key(exc) from None
    return secrets


def token_store(settings: Settings, store: Store | None = None) -> TokenStore:
    """Where adapters keep tokens: the encrypted store with a key, else this process's memory (logged once)."""
    if load_keys(settings) is None:
        log.info("secrets.no_key", note=f"access tokens are kept in memory only; set {KEY_ENV} to share them "
                 "between replicas and restarts")
        return MemoryTokenStore()
    found = secret_store(settings, store or Store(settings.store.url))
    assert found is not None
    return found
