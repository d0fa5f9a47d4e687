"""Which redirect URIs an OAuth client registered, as the authorization endpoints check them.

A registered URI matches exactly. A loopback URI (`http://127.0.0.1`, `http://[::1]` or
`http://localhost`, any port and path) is accepted for every client when loopback is on: Google's
rule for installed apps, and what a sandbox user wants without registering each test server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(uri: str) -> bool:
    """An http URI on this machine's loopback interface, without a fragment."""
    try:
        parts = urlsplit(uri)
        host, _port = parts.hostname or "", parts.port        # a bad port raises ValueError
    except ValueError:
        return False
    return parts.scheme == "http" and host in LOOPBACK_HOSTS and not parts.fragment


class RedirectUris:
    """Per-client registered redirect URIs. Thread-safe."""

    def __init__(self, *, allow_loopback: bool = True) -> None:
        self.allow_loopback = allow_loopback
        self._registered: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def register(self, client_id: str, uri: str) -> None:
        """Let `client_id` redirect to `uri` (exact match)."""
        with self._lock:
            self._registered.setdefault(client_id, set()).add(uri)

    def register_all(self, client_id: str, uris: Iterable[str]) -> None:
        for uri in uris:
            self.register(client_id, uri)

    def allowed(self, client_id: str, uri: str) -> bool:
        """Whether the authorization endpoint may send `client_id`'s user to `uri`."""
        if not uri or "#" in uri:
            return False
        with self._lock:
            if uri in self._registered.get(client_id, ()):
                return True
        return self.allow_loopback and is_loopback(uri)

    def clear(self) -> None:
        with self._lock:
            self._registered.clear()
