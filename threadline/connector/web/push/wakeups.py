"""Wakeups: the set of sources a notification asked to pull, and the event the scheduler waits on."""

from __future__ import annotations

import threading


class Wakeups:
    """Thread-safe. Producers (HTTP endpoints, IMAP IDLE watchers) `wake(source)`; the scheduler `take()`s."""

    def __init__(self) -> None:
        self._sources: set[str] = set()
        self._lock = threading.Lock()
        self._event = threading.Event()
        self.received = 0

    def wake(self, source: str) -> None:
        with self._lock:
            self._sources.add(source)
            self.received += 1
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Block until something is woken or `timeout` passes; True if woken."""
        return self._event.wait(timeout)

    def take(self) -> set[str]:
        """The sources woken since the last take (repeats collapse into one pull)."""
        with self._lock:
            sources, self._sources = self._sources, set()
            self._event.clear()
        return sources

    def interrupt(self) -> None:
        """Wake the scheduler without naming a source (shutdown)."""
        self._event.set()
