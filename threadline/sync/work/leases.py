"""Work leases: which replica pulls which source, so several replicas on one PostgreSQL store split the work.

A unit of work ("crm:hubspot", "mailbox:rep@x.com", "rules", "sequences") is a row of
`work_leases`. A replica claims a due unit by writing itself as owner with a lease
expiry, in a transaction that locks the row (`FOR UPDATE SKIP LOCKED`, so concurrent
claimers pass over each other instead of queueing); it renews the lease while it works
and releases it with the next due time. A replica that dies simply stops renewing: once
`lease_until` passes, any other replica may take the unit, and resumes from the cursor.

Fencing: the holder renews inside the transaction that commits a cursor (`fence`). The
UPDATE matches only while it is still the owner, and holds the row lock until the commit,
so a replica that lost its lease (paused longer than the lease) can never commit over the
replica that took the unit over.

SQLite is one replica by definition (`exclusive=False` there): other owners' leases are
not respected, so a process killed mid-pull never blocks the next run on the same file.
Clocks: due and expiry times are the replicas' own UTC clocks; keep them NTP-synced.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, case, or_, true, update
from sqlalchemy.sql.dml import ReturningUpdate, Update
from sqlmodel import Session, col, select

from threadline.sync.store.database import Store
from threadline.sync.store.tables import WorkLeaseRow, utcnow
from threadline.sync.store.upsert import insert_ignore, upsert


class LeaseLost(Exception):
    """This replica no longer holds the unit (its lease expired and another replica took it over)."""

    def __init__(self, unit: str) -> None:
        super().__init__(f"lease on {unit} lost")
        self.unit = unit


def replica_id() -> str:
    """A name for this process that no other process, here or on another host, will have."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseBook:
    """Claims, renews and releases work units for one owner. Thread-safe (each call uses its own session).

    `exclusive` (default: the store is shared, i.e. PostgreSQL) makes other owners' live
    leases binding; without it (SQLite, one replica) any unit not held can be claimed. A unit
    one thread of this owner holds is never claimed by another of its threads (the daemon's
    sends refresh a mailbox while its scheduler pulls), whatever the store says.
    """

    def __init__(self, store: Store, owner: str, lease: timedelta, *, exclusive: bool | None = None) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.exclusive = store.shared if exclusive is None else exclusive
        # The next_due_at each held unit was claimed with: a different value at release means a
        # wakeup (`mark_due`) came in while we worked, and it must not be overwritten.
        self._claim_marks: dict[str, datetime] = {}
        self._known: set[str] = set()          # units whose row exists (rows are never deleted)
        self._lock = threading.Lock()          # claim and release of this process's threads, one at a time

    # -- claiming ------------------------------------------------------------------------------------
    def ensure(self, units: Iterable[str]) -> None:
        """Create rows for units never seen before, due at once (idempotent, both dialects)."""
        now = utcnow()
        new = sorted(set(units) - self._known)
        if new:
            with self.store.session() as session:
                insert_ignore(session, WorkLeaseRow, [{"unit": u, "next_due_at": now, "updated_at": now}
                                                      for u in new], ["unit"])
            self._known.update(new)

    def claim(self, units: Sequence[str], *, limit: int = 1, force: bool = False) -> list[str]:
        """Take up to `limit` of `units` that are due (or, with `force`, any of them), oldest due first.

        A held unit (by anyone) is skipped while its lease lasts; an expired lease is
        taken over whatever its due time (its holder stopped mid-work). Returns the units
        now held; they stay held until `release` or expiry.
        """
        self.ensure(units)
        with self._lock:
            units = [u for u in units if u not in self._claim_marks]     # held by another thread of ours
            if not units:
                return []
            now = utcnow()
            taken, picked = self._take(units, limit, force, now)
            for unit in taken:
                self._claim_marks[unit] = now
        return sorted(taken, key=picked.index)

    def _take(self, units: Sequence[str], limit: int, force: bool, now: datetime) -> tuple[list[str], list[str]]:
        expired = self._expired_elsewhere(now)
        with self.store.session() as session:
            # One expanding parameter for the candidates: building a literal per unit cost more than the query
            # itself with a team's thousands of mailboxes (the claim runs once per batch of them).
            query = select(WorkLeaseRow.unit).where(col(WorkLeaseRow.unit).in_(bindparam("units", expanding=True)),
                                                    self._claimable(now))
            if not force:
                query = query.where(or_(col(WorkLeaseRow.next_due_at) <= now, expired))
            # A unit whose holder died goes first: it was cut short mid-work, and behind a backlog of due
            # units (a pass longer than the poll interval) it would wait that long on top of the lease.
            order = (case((expired, 0), else_=1), col(WorkLeaseRow.next_due_at), col(WorkLeaseRow.unit))
            picked = list(session.exec(query.order_by(*order).limit(limit).with_for_update(skip_locked=True),
                                       params={"units": list(units)}).all())
            if not picked:
                return [], []
            # Re-checked in the UPDATE: SQLite has no row locks, but its single writer makes this atomic.
            taken = session.execute(
                update(WorkLeaseRow).where(col(WorkLeaseRow.unit).in_(picked), self._claimable(now))
                .values(owner=self.owner, lease_until=now + self.lease, next_due_at=now, updated_at=now)
                .returning(col(WorkLeaseRow.unit))).scalars().all()
        return list(taken), picked

    def _claimable(self, now: datetime) -> ColumnElement[bool]:
        if not self.exclusive:
            return true()
        return or_(col(WorkLeaseRow.owner).is_(None), col(WorkLeaseRow.lease_until) < now)

    def _expired_elsewhere(self, now: datetime) -> ColumnElement[bool]:
        return and_(col(WorkLeaseRow.owner).is_not(None), col(WorkLeaseRow.lease_until) < now)

    # -- holding -------------------------------------------------------------------------------------
    def fence(self, session: Session, unit: str) -> None:
        """In the caller's transaction: renew the lease, or raise LeaseLost if another replica owns the unit.

        On PostgreSQL the UPDATE keeps the row locked until the caller commits, so nobody can
        take the unit over between this check and the commit it guards."""
        renewed = session.execute(self._renewal(unit)).scalars().all()
        if not renewed:
            raise LeaseLost(unit)

    def renew(self, unit: str) -> bool:
        """Extend the lease by the lease time from now. False: it was lost (stop working on the unit)."""
        with self.store.session() as session:
            return bool(session.execute(self._renewal(unit)).scalars().all())

    def still_holds(self, unit: str) -> bool:
        """True while this owner holds `unit` (renewing it, as any sign of life should)."""
        return self.renew(unit)

    def _renewal(self, unit: str) -> ReturningUpdate[str]:
        now = utcnow()
        return (update(WorkLeaseRow).where(col(WorkLeaseRow.unit) == unit, col(WorkLeaseRow.owner) == self.owner)
                .values(lease_until=now + self.lease, updated_at=now).returning(col(WorkLeaseRow.unit)))

    # -- letting go ----------------------------------------------------------------------------------
    def release(self, unit: str, next_due_at: datetime, *, also: Callable[[Session], None] | None = None) -> None:
        """Give the unit up; it falls due at `next_due_at` (or stays due now if a wakeup came meanwhile).

        `also(session)` runs in the same transaction (a pull's success mark): one commit instead of two,
        which is most of what an idle mailbox costs the store."""
        try:
            with self.store.session() as session:
                if also is not None:
                    also(session)
                session.execute(self._release(unit, next_due_at))
        finally:
            # Only now: until the row is free, another thread of ours must not claim it (SQLite would let it).
            with self._lock:
                self._claim_marks.pop(unit, None)

    def release_many(self, releases: Sequence[tuple[str, datetime, Callable[[Session], None] | None]]) -> None:
        """`release` for several units in one transaction: (unit, next_due_at, also) each. A pool of workers
        hands its finished mailboxes back in batches, as on SQLite every commit is an fsync."""
        if not releases:
            return
        try:
            with self.store.session() as session:
                for unit, next_due_at, also in releases:
                    if also is not None:
                        also(session)
                    session.execute(self._release(unit, next_due_at))
        finally:
            with self._lock:
                for unit, _, _ in releases:
                    self._claim_marks.pop(unit, None)

    def _release(self, unit: str, next_due_at: datetime) -> Update:
        mark = self._claim_marks.get(unit)
        due = case((col(WorkLeaseRow.next_due_at) == mark, next_due_at), else_=col(WorkLeaseRow.next_due_at)) \
            if mark is not None else next_due_at
        return (update(WorkLeaseRow).where(col(WorkLeaseRow.unit) == unit, col(WorkLeaseRow.owner) == self.owner)
                .values(owner=None, lease_until=None, next_due_at=due, updated_at=utcnow()))

    def release_all(self) -> int:
        """Give up every unit this owner holds, due at once (shutdown: the work in them was cut short)."""
        with self._lock:
            self._claim_marks.clear()
        now = utcnow()
        with self.store.session() as session:
            released = session.execute(
                update(WorkLeaseRow).where(col(WorkLeaseRow.owner) == self.owner)
                .values(owner=None, lease_until=None, next_due_at=now, updated_at=now)
                .returning(col(WorkLeaseRow.unit))).scalars().all()
        return len(released)

    def holder(self, unit: str) -> str | None:
        """The owner holding `unit` under a live lease, if any (this owner included)."""
        with self.store.session() as session:
            row = session.get(WorkLeaseRow, unit)
        if row is None or row.lease_until is None or row.lease_until < utcnow():
            return None
        return row.owner

    def held(self) -> list[str]:
        """Units this owner holds now (by the store, not by memory)."""
        with self.store.session() as session:
            return sorted(session.exec(select(WorkLeaseRow.unit).where(WorkLeaseRow.owner == self.owner)).all())

    # -- scheduling ----------------------------------------------------------------------------------
    def mark_due(self, unit: str) -> None:
        """Ask for `unit` to be pulled now, by whichever replica gets there first (a push notification)."""
        now = utcnow()
        with self.store.session() as session:
            upsert(session, WorkLeaseRow, [{"unit": unit, "next_due_at": now, "updated_at": now}], ["unit"])
        self._known.add(unit)

    def next_claimable(self, units: Sequence[str]) -> datetime | None:
        """When the earliest of `units` can next be claimed: its due time, or a live lease's expiry. Units a
        thread of this owner holds are left out: their release sets their next due time."""
        units = [u for u in units if u not in self._claim_marks]
        if not units:
            return None
        with self.store.session() as session:
            rows = session.exec(select(WorkLeaseRow).where(col(WorkLeaseRow.unit).in_(list(units)))).all()
        if len(rows) < len(set(units)):
            return utcnow()                     # a unit never claimed is due at once
        # Held elsewhere: claimable when that lease runs out (its holder sets the due time on release).
        return min(r.lease_until if self.exclusive and r.owner not in (None, self.owner) and r.lease_until
                   else r.next_due_at for r in rows)
