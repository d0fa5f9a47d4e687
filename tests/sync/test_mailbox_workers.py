"""The mailbox workers' queue and pool (sync/mailboxes/workers.py), over a real LeaseBook on SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from threadline.sync.mailboxes.workers import Release, UnitQueue, run_workers
from threadline.sync.store.database import Store
from threadline.sync.store.tables import CursorRow, WorkLeaseRow, utcnow
from threadline.sync.work.cursors import mark_success
from threadline.sync.work.leases import LeaseBook

UNITS = [f"mailbox:rep{n}@x.example" for n in range(10)]


@pytest.fixture
def book(tmp_path: Path) -> LeaseBook:
    # exclusive: other owners' leases bind, as on a shared (PostgreSQL) store
    return LeaseBook(Store(f"sqlite:///{tmp_path / 'leases.db'}"), "me", timedelta(minutes=2), exclusive=True)


def queue_for(book: LeaseBook, batch: int, stale_after: float = 60.0) -> tuple[UnitQueue, list[int]]:
    """A queue over `book`, and the sizes of the release batches it wrote."""
    batches: list[int] = []

    def release(done: Sequence[Release]) -> None:
        batches.append(len(done))
        book.release_many(done)

    claimed: set[str] = set()

    def claim(limit: int) -> list[str]:          # each unit once, as the engine claims per cycle
        units = book.claim([u for u in UNITS if u not in claimed], limit=limit, force=True)
        claimed.update(units)
        return units

    return UnitQueue(claim, release, book.renew, batch=batch, stale_after=stale_after), batches


def success(unit: str) -> Callable[[Session], None]:
    return lambda session: mark_success(session, unit)


def owners(book: LeaseBook) -> dict[str, str | None]:
    with book.store.session() as session:
        return {row.unit: row.owner for row in session.exec(select(WorkLeaseRow)).all()}


def test_units_are_claimed_and_released_a_batch_at_a_time_with_the_success_marks(book: LeaseBook) -> None:
    queue, batches = queue_for(book, batch=4)
    taken = []
    while (unit := queue.next()) is not None:
        taken.append(unit)
        queue.finished(unit, utcnow() + timedelta(minutes=1), success(unit))
    queue.close(utcnow())
    assert sorted(taken) == sorted(UNITS)                      # each once
    assert [b for b in batches if b] == [4, 4, 2]             # three release transactions, not ten
    assert set(owners(book).values()) == {None}
    with book.store.session() as session:
        marked = session.exec(select(CursorRow.source).where(CursorRow.last_success_at.is_not(None))).all()  # type: ignore[union-attr]
    assert sorted(marked) == sorted(UNITS)


def test_close_gives_back_the_units_queued_but_never_started(book: LeaseBook) -> None:
    queue, _ = queue_for(book, batch=5)
    first = queue.next()
    assert first is not None and sum(o == "me" for o in owners(book).values()) == 5
    queue.finished(first, utcnow() + timedelta(minutes=1), None)
    queue.close(utcnow())
    assert set(owners(book).values()) == {None}               # the four never started are free again
    assert book.claim(UNITS, limit=10) != []                 # and due now


def test_a_unit_that_waited_too_long_is_renewed_or_skipped_if_lost(book: LeaseBook) -> None:
    queue, _ = queue_for(book, batch=3, stale_after=0.0)     # every queued unit counts as stale
    first = queue.next()
    assert first is not None
    queued = [u for u, o in owners(book).items() if o == "me" and u != first]
    with book.store.session() as session:                    # another replica took one over meanwhile
        row = session.get(WorkLeaseRow, queued[0])
        assert row is not None
        row.owner = "another"
        session.add(row)
    handed = [queue.next(), queue.next()]
    assert queued[0] not in handed and queued[1] in handed    # the lost one skipped, the live one renewed
    assert owners(book)[queued[0]] == "another"               # and not released over its new holder
    queue.close(utcnow())


def test_a_failing_worker_stops_the_others_taking_more_and_its_error_reaches_the_caller() -> None:
    taken: list[int] = []
    lock = threading.Lock()

    def take_one() -> bool:
        with lock:
            taken.append(len(taken))
            n = len(taken)
        if n == 3:
            raise RuntimeError("store went away")
        return True                  # work without end: only the failure can stop the other workers

    with pytest.raises(RuntimeError, match="store went away"):
        run_workers(4, take_one, threading.Event())
    assert len(taken) >= 3


def test_finished_units_are_not_held_back_past_a_quarter_lease_waiting_for_a_full_batch(book: LeaseBook) -> None:
    """A finished unit's lease is not renewed while it waits for its release batch: a batch that fills slowly
    (its other workers in long pulls) is released once its oldest unit has waited `stale_after`."""
    now = [0.0]
    batches: list[int] = []

    def release(done: Sequence[Release]) -> None:
        batches.append(len(done))
        book.release_many(done)

    queue = UnitQueue(lambda limit: book.claim(UNITS[:3], limit=limit, force=True), release, book.renew,
                      batch=3, stale_after=30.0, clock=lambda: now[0])
    first = queue.next()
    assert first is not None
    queue.finished(first, utcnow() + timedelta(minutes=1), None)
    assert batches == [] and owners(book)[first] == "me"       # waits for the batch
    now[0] += 31.0                                              # the other two are still being pulled
    second = queue.next()
    assert second is not None
    queue.finished(second, utcnow() + timedelta(minutes=1), None)
    assert batches == [2] and owners(book)[first] is None      # released before its lease could run out
