"""The fence of a claimed batch of outbox rows: every provider request made for them first renews their lease
in the store, and stops (`Fenced`) when another replica has taken any of them over (adapters/fencing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from threadline.adapters.errors import ProviderError, RateLimited
from threadline.adapters.fencing import Fenced
from threadline.sync.outbox import rows as outbox
from threadline.sync.store.database import Store


def allowed_wait(lease: timedelta) -> float:
    """The longest wait (seconds) a provider call may spend inside itself for leased rows: half the lease, so
    the lease renewed before the wait still covers it with room to spare."""
    return lease.total_seconds() / 2


def long_throttle(exc: ProviderError, lease: timedelta) -> RateLimited | None:
    """`exc` when it is a throttle longer than `allowed_wait`: the source's writes are parked, not waited for."""
    return exc if isinstance(exc, RateLimited) and (exc.retry_after or 0) > allowed_wait(lease) else None


class RowFence:
    """Renews `row_ids`' lease for `owner` at every check; a wait inside a call may last half the lease.

    A wait longer than that (a long throttle) is handed back to the executor, which parks the source; so a
    replica never holds rows through a wait it could not renew them across, and a paused replica that
    wakes up after losing them sends nothing more for them."""

    def __init__(self, store: Store, row_ids: Sequence[int], owner: str, lease: timedelta) -> None:
        self.store = store
        self.row_ids = list(row_ids)
        self.owner = owner
        self.lease = lease
        self.max_wait = allowed_wait(lease)

    def check(self) -> None:
        with self.store.session() as session:
            held = outbox.renew(session, self.row_ids, self.owner, self.lease)
        lost = len(self.row_ids) - len(held)
        if lost:
            raise Fenced(f"{lost} of {len(self.row_ids)} outbox rows were taken over by another replica")
