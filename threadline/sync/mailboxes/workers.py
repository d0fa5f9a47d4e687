"""Pull many mailboxes at once inside one replica: a bounded set of worker threads.

Each worker does what a replica with one thread does: claim one due mailbox lease, pull it
(committing page by page under the lease's fence), release it, and take the next. So fencing,
exactly-once and cursors work per mailbox exactly as before; only the number of mailboxes in
flight changes. Provider limits are not this module's business: every request still goes
through its mailbox's limiter and the shared per-project / per-app one (adapters/ratelimit.py).

Bookkeeping is batched (`UnitQueue`): the workers' claims are taken a batch at a time and their
releases handed back a batch at a time, since on SQLite every commit is an fsync and two per mailbox
were most of what polling an idle mailbox cost.

The threads are daemon threads: a provider call hanging past the shutdown timeout must not hold
the process's exit (ThreadPoolExecutor's threads are joined at interpreter exit).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from sqlmodel import Session

from threadline.sync.store.tables import utcnow

log = structlog.get_logger("threadline.mailbox")


def run_workers(count: int, take_one: Callable[[], bool], stopping: threading.Event, *,
                name: str = "mailbox") -> None:
    """Run `take_one` on `count` threads until each gets False from it (nothing left to claim, out of time) or
    `stopping` is set; returns once every worker has finished the work in hand. With `count` 1 the caller's
    thread does the work. An exception in a worker stops every worker from taking more; they finish what they
    hold, and the first such exception is then raised here, as it would have been with one thread (a store
    that went away is the cycle's problem, not one mailbox's)."""
    if count <= 1:
        while not stopping.is_set() and take_one():
            pass
        return
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_work, args=(take_one, stopping, failures), name=f"threadline {name} {n}",
                                daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _work(take_one: Callable[[], bool], stopping: threading.Event, failures: list[BaseException]) -> None:
    try:
        while not stopping.is_set() and not failures and take_one():
            pass
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
        failures.append(exc)        # first: the other workers look at it before each take
        log.warning("mailbox.worker_failed", error=type(exc).__name__)


#: (unit, next due time, work for the release's transaction): what a worker hands back.
Release = tuple[str, datetime, Callable[[Session], None] | None]


class UnitQueue:
    """Claimed units for a pool of workers: claimed `batch` at a time when the queue runs dry, released in
    batches as they finish. Thread-safe.

    `claim(limit)` returns units now held; `release(batch)` gives finished units back in one transaction;
    `renew(unit)` extends a lease (False: lost). A unit that waited in the queue for longer than
    `stale_after` seconds is renewed before it is handed out, so a queue behind long pulls never hands out a
    lease that ran out (on PostgreSQL another replica may have taken it: it is then skipped).
    """

    def __init__(self, claim: Callable[[int], list[str]], release: Callable[[Sequence[Release]], None],
                 renew: Callable[[str], bool], *, batch: int, stale_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._claim, self._release, self._renew = claim, release, renew
        self.batch = max(1, batch)
        self.stale_after = stale_after
        self.clock = clock
        self._queue: deque[tuple[str, float]] = deque()
        self._done: list[Release] = []
        self._done_since = 0.0                 # when the oldest unit now waiting to be released finished
        self._lock = threading.Lock()

    def next(self) -> str | None:
        """The next unit to work on, claiming a batch if none is queued; None when nothing is left to claim."""
        while True:
            with self._lock:
                if not self._queue:
                    self._flush()
                    now = self.clock()
                    self._queue.extend((unit, now) for unit in self._claim(self.batch))
                if not self._queue:
                    return None
                unit, since = self._queue.popleft()
            if self.clock() - since < self.stale_after or self._renew(unit):
                return unit
            self.finished(unit, utcnow(), None)     # lost while queued: the release matches nothing, forget it

    def finished(self, unit: str, next_due_at: datetime, also: Callable[[Session], None] | None) -> None:
        """Hand a unit back (released with the next batch, or at `close`)."""
        with self._lock:
            if not self._done:
                self._done_since = self.clock()
            self._done.append((unit, next_due_at, also))
            # A full batch, or one whose oldest unit has waited long enough that its lease (not renewed while
            # it waits) could run out and another replica pull it again (found in review).
            if len(self._done) >= self.batch or self.clock() - self._done_since >= self.stale_after:
                self._flush()

    def close(self, now: datetime) -> None:
        """Release every unit still queued (due at `now`: never started) and every finished one."""
        with self._lock:
            self._done += [(unit, now, None) for unit, _ in self._queue]
            self._queue.clear()
            self._flush()

    def _flush(self) -> None:
        if not self._done:
            return
        done, self._done = self._done, []
        try:
            self._release(done)
        except BaseException:
            self._done = done + self._done      # not released: kept for the next flush or `close` (review)
            raise
