"""The daemon's drainers: sequence sends and CRM outbox writes, each on a thread of its own.

A sync cycle only intends effects; a drainer performs them while the scheduler goes on pulling,
so the first replies reach the CRM seconds after they are read, not after the whole pass. Each
drainer is woken when a pull, the rules or the sequences intended something, and every
DRAIN_INTERVAL anyway (retries falling due, rows another replica left behind).

There is one drainer per kind of work per process: rows are leased per row, so replicas share
them, but an executor releases in-flight rows it takes for orphans (on SQLite, any in-flight
row of its kinds), so two executors of one kind in one process must never run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger("threadline.daemon")
DRAIN_INTERVAL = 1.0     # seconds between drains when nothing wakes a drainer


class Drainer:
    """Runs `drain()` whenever `wake()` is called (at most one run at a time) and every `interval` seconds,
    until `stop` is set. The errors of the last run are kept in `errors`."""

    def __init__(self, name: str, drain: Callable[[], list[str]], stop: threading.Event,
                 interval: float = DRAIN_INTERVAL) -> None:
        self.name = name
        self._drain = drain
        self._stop = stop
        self._woken = threading.Event()
        self.interval = interval
        self.errors: list[str] = []
        self.runs = 0

    def wake(self) -> None:
        """Drain soon (now, or right after the run in progress). Never blocks."""
        self._woken.set()

    # Shutdown: a waiting drainer sees `stop` at once.
    interrupt = wake

    def run(self) -> None:
        """The thread's body: drain, then wait for a wakeup or the interval, until stopped."""
        while not self._stop.is_set():
            self._woken.clear()        # a wakeup during the run below makes the next one start at once
            try:
                self.errors = self._drain()
            except Exception as exc:  # noqa: BLE001 - the drainer must outlive any one run
                log.error("daemon.drain_failed", drainer=self.name, error=type(exc).__name__, detail=str(exc)[:300])
                self.errors = [f"{type(exc).__name__}: {exc}"]
            self.runs += 1
            self._woken.wait(self.interval)
