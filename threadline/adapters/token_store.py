"""Where adapters keep OAuth tokens between processes: a small get/put protocol.

Wiring passes the store-backed implementation (encrypted at rest, shared by every replica
and surviving restarts); without a secret key it passes `MemoryTokenStore`, which lasts as
long as the process. Values are opaque text (JSON) the adapter writes and reads back.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

import structlog

log = structlog.get_logger("threadline.tokens")


class TokenStore(Protocol):
    """Named token blobs. `get` may raise when the stored value cannot be read (wrong key)."""

    def get(self, name: str) -> str | None: ...

    def put(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> bool: ...


class MemoryTokenStore:
    """A TokenStore in this process's memory only (no secret key configured, tests)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._values.get(name)

    def put(self, name: str, value: str) -> None:
        with self._lock:
            self._values[name] = value

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._values.pop(name, None) is not None

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._values)} entries)"


class SharedEntry:
    """One named JSON entry in a TokenStore, as an adapter's token cache uses it.

    A store that cannot be read or written (database down, wrong key) is logged and
    treated as empty: the adapter then asks the provider, as it would without a store.
    """

    def __init__(self, tokens: TokenStore, name: str) -> None:
        self.tokens = tokens
        self.name = name

    def load(self) -> dict[str, Any] | None:
        try:
            text = self.tokens.get(self.name)
            return json.loads(text) if text else None
        except Exception as exc:  # noqa: BLE001 - a cache miss is always a safe answer
            log.warning("tokens.load_failed", entry=self.name, error=type(exc).__name__)
            return None

    def save(self, value: dict[str, Any]) -> None:
        try:
            self.tokens.put(self.name, json.dumps(value, sort_keys=True))
        except Exception as exc:  # noqa: BLE001 - the token still works in this process
            log.warning("tokens.save_failed", entry=self.name, error=type(exc).__name__)
