"""Perform outbox rows against the CRM, effectively once.

Order of a row's life: pending -> in_flight (committed) -> remote effect -> done
(committed with the remote id). A crash between the remote effect and `done`
leaves the row in flight; before anything is performed again it is looked up
remotely by its key (`find_logged`), so it is never created twice. Rows whose
earlier attempt failed ambiguously (timeouts) are reconciled the same way.

Every provider call runs under the rows' fence (fence.py): right before each request, and while it waits
inside the call, the rows' lease is renewed; a replica that lost them (it stalled past its lease and another
replica took over) sends nothing more for them. A throttle longer than half the lease parks the CRM's writes
for every replica until the stated time (work/holds.py) instead of holding a thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

import structlog
from sqlmodel import Session, col, select

from threadline.adapters.errors import AuthExpired, PermanentError, ProviderError, RateLimited
from threadline.adapters.fencing import Fenced, fenced
from threadline.adapters.protocols import CrmAdapter
from threadline.adapters.records import ContactUpdate, EmailActivity, FieldWrite, LoggedActivity, TaskRequest
from threadline.crashpoints import crashpoint
from threadline.sync.contacts.mirror import surviving_contact, write_through
from threadline.sync.contacts.reply_properties import reply_properties
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.contact_creates import create_contact_batch
from threadline.sync.outbox.deletes import delete_batch
from threadline.sync.outbox.fence import RowFence, long_throttle
from threadline.sync.outbox.fenced_call import Ended, fenced_call
from threadline.sync.outbox.retry_policy import RetryPolicy
from threadline.sync.store.database import Store
from threadline.sync.store.tables import OutboxRow, utcnow
from threadline.sync.work.cursors import record_provider_error
from threadline.sync.work.holds import held_until, hold_source
from threadline.sync.work.leases import replica_id

log = structlog.get_logger("threadline.outbox")
# How long a contact update waits for its reply's activity to be logged first.
REPLY_FIRST_WAIT = timedelta(seconds=3)
BATCH = 100
LEASE = timedelta(minutes=2)   # the default of sync.lease_time: a batch's CRM calls take seconds
#: The outbox kinds this executor performs (send_email rows belong to the SendExecutor).
CRM_KINDS = ("log_email", "create_task", "update_contact", "set_fields", "delete_email", "create_contact")


@dataclass(frozen=True)
class CreateKind:
    """An outbox kind that creates a CRM record: its request model, look-up by key, and batch create."""

    model: type[Any]
    find: Callable[[list[str]], dict[str, str]]
    create: Callable[[list[Any]], list[LoggedActivity]]


@dataclass
class OutboxSummary:
    performed: Counter[str] = field(default_factory=Counter)
    reconciled: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxExecutor:
    """Drains the outbox for one CRM. Safe to run in several processes (rows are leased).

    `lease` is how long a claimed row stays this executor's without renewal; each batch
    renews it right before the CRM is called and skips rows another replica took over, and every
    request inside the call renews it again (the rows' fence). `retry` says how long a failed row waits and
    when it gives up. Setting `stopping` ends `run` between batches (shutdown): no claimed row is left behind.
    """

    def __init__(self, store: Store, crm: CrmAdapter, *, property_names: dict[str, str], snippet_chars: int = 200,
                 owner: str | None = None, lease: timedelta = LEASE, stopping: threading.Event | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.store = store
        self.crm = crm
        self.property_names = property_names
        self.snippet_chars = snippet_chars
        self.owner = owner or replica_id()
        self.lease = lease
        self.stopping = stopping or threading.Event()
        self.source = f"crm:{crm.name}"
        self.retry = retry or RetryPolicy()

    def run(self, settle_seconds: float = 20.0) -> OutboxSummary:
        """Reconcile orphans, then perform due rows until none are left (or the CRM refuses us).

        Rows whose retry falls due within `settle_seconds` are waited for, so a
        cycle under a passing fault still finishes its work.
        """
        summary = OutboxSummary()
        deadline = time.monotonic() + settle_seconds
        try:
            self._release_orphans()
            creates = self._creates()
            while not self.stopping.is_set() and not self._parked():
                # Opt-out labels (deletes.py) first: an activity withdrawn before it was written is cancelled,
                # never created and then deleted.
                if hasattr(self.crm, "delete_emails"):
                    while not self.stopping.is_set() and delete_batch(self, summary):
                        pass
                if hasattr(self.crm, "create_contacts"):     # sync.create_contacts (contact_creates.py)
                    while not self.stopping.is_set() and create_contact_batch(self, summary):
                        pass
                for kind, how in creates.items():
                    while not self.stopping.is_set() and self._create_batch(kind, how, summary):
                        pass
                while not self.stopping.is_set() and self._update_batch(summary):
                    pass
                if hasattr(self.crm, "write_fields"):
                    while not self.stopping.is_set() and self._fields_batch(summary):
                        pass
                wait = self._seconds_until_next_due()
                if wait is None or time.monotonic() + wait > deadline:
                    break
                self.stopping.wait(wait)
        except AuthExpired as exc:
            summary.errors.append(str(exc))
            with self.store.session() as session:
                record_provider_error(session, self.source, exc)
        return summary

    def _seconds_until_next_due(self) -> float | None:
        with self.store.session() as session:
            # Only our own kinds: a send_email row waiting for its retry is not ours to wait for (waiting
            # on it spun this loop for the whole settle time; found by the fault suite).
            due = outbox.next_due(session, CRM_KINDS)
            parked = held_until(session, self.source)
        if due is None:
            return None
        return max(0.0, (max(due, parked or due) - utcnow()).total_seconds())

    # -- fencing and parking -------------------------------------------------------------------
    def _fence(self, rows: Sequence[OutboxRow]) -> RowFence:
        return RowFence(self.store, [r.id for r in rows if r.id is not None], self.owner, self.lease)

    def _parked(self) -> bool:
        """Whether a long throttle parked this CRM's writes (for every replica) and the hold is not over."""
        with self.store.session() as session:
            return held_until(session, self.source) is not None

    def _parked_by(self, exc: ProviderError, rows: dict[str, OutboxRow], summary: OutboxSummary) -> bool:
        """A throttle longer than a call may wait parks the source (returns True); anything else returns False."""
        throttle = long_throttle(exc, self.lease)
        if throttle is None:
            return False
        self._park(rows, throttle, summary)
        return True

    def _not_taken(self, rows: dict[str, OutboxRow], exc: ProviderError, summary: OutboxSummary) -> bool:
        """A batch the CRM did not take: parked by a long throttle, else retried later (AuthExpired is re-raised:
        it stops the run). Returns False: the caller's loop moves on."""
        if not self._parked_by(exc, rows, summary):
            self._finish(rows, {}, summary, retry=exc)
            if isinstance(exc, AuthExpired):
                raise exc
        return False

    def _park(self, rows: dict[str, OutboxRow], exc: RateLimited, summary: OutboxSummary) -> None:
        """Hold the CRM's writes until the throttle ends; the rows wait for it without counting an attempt."""
        wait = timedelta(seconds=exc.retry_after or 0)
        with self.store.session() as session:
            until = hold_source(session, self.source, utcnow() + wait, f"{exc.kind}: {exc}", self.owner)
            self._give_back(session, rows, f"parked until {until.isoformat()}: {exc.kind}: {exc}", until - utcnow())
            record_provider_error(session, self.source, exc)
        summary.errors.append(str(exc))
        log.warning("outbox.parked", source=self.source, until=until.isoformat(), reason=str(exc)[:200])

    def _fenced(self, rows: dict[str, OutboxRow], exc: Fenced) -> None:
        """Another replica took some rows over mid-call: give ours back, due once the CRM's search can see
        whatever this call did create (each is looked up by key before it is performed again)."""
        with self.store.session() as session:
            self._give_back(session, rows, f"fenced: {exc}", None)
        log.warning("outbox.fenced", rows=len(rows), reason=str(exc))

    def _give_back(self, session: Session, rows: dict[str, OutboxRow], error: str, delay: timedelta | None) -> None:
        for claimed in rows.values():
            row = session.get(OutboxRow, claimed.id, with_for_update=True)
            if row is not None and outbox.holds(row, self.owner):
                outbox.give_back(row, error, delay if delay is not None else self._reconcile_delay(row))
                session.add(row)

    # -- reconcile ---------------------------------------------------------------------------
    def _release_orphans(self) -> None:
        """In-flight rows whose performer died go back to pending, due once the CRM's search can see them.

        They are then claimed like any row, and every claimed row is looked up by key
        before anything is created, so an effect that did happen is recorded, not repeated.
        """
        with self.store.session() as session:
            rows = [r for kind in CRM_KINDS
                    for r in outbox.orphaned_in_flight(session, kind, respect_leases=self.store.shared,
                                                       own=self.owner)]
            for row in rows:
                outbox.mark_retry(row, "released after its performer stopped", self._reconcile_delay(row))
                session.add(row)
        if rows:
            log.info("outbox.released_orphans", rows=len(rows))

    def _reconcile_delay(self, row: OutboxRow) -> timedelta:
        lag = timedelta(seconds=getattr(self.crm, "search_lag_seconds", 0.0))
        updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
        return max(timedelta(0), updated + lag - utcnow())

    # -- creates: log_email, create_task -------------------------------------------------------
    def _creates(self) -> dict[str, CreateKind]:
        """Effects that create a CRM record: how to rebuild the request, look it up and create it."""
        crm = self.crm
        kinds = {"log_email": CreateKind(EmailActivity, crm.find_logged, crm.log_emails)}
        if hasattr(crm, "create_tasks"):
            kinds["create_task"] = CreateKind(
                TaskRequest, lambda keys: {k: t.remote_id for k, t in crm.find_tasks(keys).items()},
                crm.create_tasks)
        return kinds

    def _claim(self, kind: str) -> list[OutboxRow]:
        with self.store.session() as session:
            return outbox.claim_due(session, kind, self.owner, self.lease, BATCH)

    def _held(self, session: Session, rows: Sequence[OutboxRow]) -> list[OutboxRow]:
        """Renew the claimed rows' lease; drop those another replica took over meanwhile (it performs them)."""
        held = outbox.renew(session, [r.id for r in rows if r.id is not None], self.owner, self.lease)
        if len(held) < len(rows):
            log.warning("outbox.lease_lost", rows=len(rows) - len(held))
        return [r for r in rows if r.id in held]

    def _create_batch(self, kind: str, how: CreateKind, summary: OutboxSummary) -> bool:
        rows = self._claim(kind)
        if not rows:
            return False
        crashpoint("outbox.after_claim")
        with self.store.session() as session:
            rows = self._held(session, rows)
            requests = {r.key: self._request(session, r, how.model) for r in rows}
        if not rows:
            return True
        by_key = {r.key: r for r in rows}
        done: dict[str, str] = {}
        try:
            with fenced(self._fence(rows)):
                # Look before creating: finds effects of an earlier attempt whose outcome we never
                # learned (crash, timeout) and, after a store restore, anything created before it.
                found = how.find(list(requests))
                summary.reconciled += len(found)
                done.update(found)
                todo = [requests[k] for k in requests if k not in done]
                if todo:
                    done.update({a.key: a.remote_id for a in how.create(todo)})
            crashpoint("outbox.after_remote_create")
        except Fenced as exc:
            self._fenced(by_key, exc)
            return True
        except PermanentError as exc:
            if len(rows) > 1:
                return self._isolate(rows, requests, how, summary)
            self._finish(by_key, done, summary, failure=exc)
            return True
        except ProviderError as exc:
            if self._parked_by(exc, {k: r for k, r in by_key.items() if k not in done}, summary):
                self._finish({k: r for k, r in by_key.items() if k in done}, done, summary)
                return False
            self._finish(by_key, done, summary, retry=exc)
            if isinstance(exc, AuthExpired):
                raise
            return False
        self._finish(by_key, done, summary)
        return True

    def _isolate(self, rows: Sequence[OutboxRow], requests: dict[str, Any], how: CreateKind,
                 summary: OutboxSummary) -> bool:
        """A batch was refused: perform one by one so one bad row does not hold the others back."""
        for row in rows:
            by_key = {row.key: row}
            try:
                with fenced(self._fence([row])):
                    created = how.create([requests[row.key]])
                self._finish(by_key, {a.key: a.remote_id for a in created}, summary)
            except Fenced as exc:
                self._fenced(by_key, exc)
            except PermanentError as exc:
                self._finish(by_key, {}, summary, failure=exc)
            except ProviderError as exc:
                self._finish(by_key, {}, summary, retry=exc)
        return True

    # -- set_fields (rule layer: score, tier, stage, owner) ------------------------------------
    def _fields_batch(self, summary: OutboxSummary) -> bool:
        """Absolute field values, merged per contact in the order they were intended."""
        rows = self._claim("set_fields")
        if not rows:
            return False
        with self.store.session() as session:
            rows = self._held(session, rows)
            merged: dict[str, dict[str, str]] = {}
            for row in rows:
                merged.setdefault(surviving_contact(session, row.contact_id), {}).update(
                    json.loads(row.payload)["fields"])
        if not rows:
            return True
        by_key = {r.key: r for r in rows}
        try:
            with fenced(self._fence(rows)):
                self.crm.write_fields([FieldWrite(contact_id=c, fields=f) for c, f in merged.items()])
        except Fenced as exc:
            self._fenced(by_key, exc)
            return True
        except PermanentError as exc:
            if len(rows) > 1:
                for row in rows:       # find the refused write; the others go through
                    self._fields_one(row, summary)
                return True
            self._finish(by_key, {}, summary, failure=exc)
            return True
        except ProviderError as exc:
            return self._not_taken(by_key, exc, summary)
        self._finish(by_key, {k: "" for k in by_key}, summary)
        return True

    def _fields_one(self, row: OutboxRow, summary: OutboxSummary) -> None:
        write = FieldWrite(contact_id=row.contact_id, fields=json.loads(row.payload)["fields"])
        try:
            with fenced(self._fence([row])):
                self.crm.write_fields([write])
            self._finish({row.key: row}, {row.key: ""}, summary)
        except Fenced as exc:
            self._fenced({row.key: row}, exc)
        except PermanentError as exc:
            self._finish({row.key: row}, {}, summary, failure=exc)
        except ProviderError as exc:
            self._finish({row.key: row}, {}, summary, retry=exc)

    def _finish(self, rows: dict[str, OutboxRow], done: dict[str, str], summary: OutboxSummary, *,
                failure: ProviderError | None = None, retry: ProviderError | None = None) -> None:
        now = utcnow()
        with self.store.session() as session:
            for key, claimed in rows.items():
                row = session.get(OutboxRow, claimed.id, with_for_update=True)
                if row is None or not outbox.holds(row, self.owner):
                    # Taken over after our lease ran out: its new performer looks it up by key first.
                    log.warning("outbox.lease_lost", key=key)
                    continue
                if key in done:
                    outbox.mark_done(row, done[key])
                    if row.kind == "set_fields":
                        write_through(session, row.contact_id, json.loads(row.payload)["fields"],
                                      self.crm.owner_field)
                    summary.performed[row.kind] += 1
                    log.info("outbox.performed", kind=row.kind, key=key, contact_id=row.contact_id,
                             remote_id=done[key])
                    continue
                row.first_attempt_at = row.first_attempt_at or now      # the give-up horizon starts here
                if failure is not None:
                    outbox.mark_failed(row, f"{failure.kind}: {failure}")
                    summary.failed += 1
                    _log_failed(row)
                elif self.retry.gives_up(row.first_attempt_at, now):
                    error = retry or PermanentError("the CRM did not create a record for this key")
                    outbox.mark_failed(row, f"gave up after {row.attempts} attempts over "
                                            f"{self.retry.give_up_after}: {error.kind}: {error}")
                    summary.failed += 1
                    _log_failed(row)
                else:
                    error = retry or PermanentError("the CRM did not create a record for this key")
                    outbox.mark_retry(row, f"{error.kind}: {error}", max(self.retry.delay(row.attempts),
                                                                          self._reconcile_delay(row)))
                    summary.retried += 1
            reported = failure or retry
            if reported is not None:
                record_provider_error(session, self.source, reported)
                summary.errors.append(str(reported))
            if retry is not None and failure is None:
                log.warning("outbox.retry", source=self.source, rows=len(rows), error=retry.kind,
                            detail=str(retry)[:300])

    def _request(self, session: Session, row: OutboxRow, model: type[Any]) -> Any:
        data = json.loads(row.payload)
        data["contact_id"] = surviving_contact(session, data["contact_id"])   # merged since intended
        return model.model_validate(data)

    # -- update_contact ----------------------------------------------------------------------
    def _update_batch(self, summary: OutboxSummary) -> bool:
        with self.store.session() as session:
            rows = outbox.claim_due(session, "update_contact", self.owner, self.lease, BATCH)
            waiting = self._contacts_with_unlogged_replies(session, {r.contact_id for r in rows})
            ready = [r for r in rows if r.contact_id not in waiting]
            for row in rows:
                if row.contact_id in waiting:
                    # A few seconds, not longer: the reply's log_email is usually in another replica's batch in
                    # flight, and a long wait here held every contact's reply properties back (replica bench).
                    outbox.give_back(row, "waiting for the reply to be logged first", REPLY_FIRST_WAIT)
                    session.add(row)
        with self.store.session() as session:
            ready = self._held(session, ready)
            updates = [ContactUpdate(contact_id=surviving_contact(session, cid),
                                     properties=reply_properties(session, cid, self.property_names, self.snippet_chars))
                       for cid in sorted({r.contact_id for r in ready})]
        if not rows:
            return False
        by_key = {r.key: r for r in ready}
        if updates:
            ended = fenced_call(self, by_key, summary, lambda: self.crm.update_contacts(updates))
            if isinstance(ended, Ended):
                return ended.more
        self._finish(by_key, {k: "" for k in by_key}, summary)
        return bool(ready)

    def _contacts_with_unlogged_replies(self, session: Session, contact_ids: set[str]) -> set[str]:
        if not contact_ids:
            return set()
        pending = session.exec(select(OutboxRow.contact_id).where(
            OutboxRow.kind == "log_email", col(OutboxRow.contact_id).in_(contact_ids),
            col(OutboxRow.status).in_(["pending", "in_flight"]))).all()
        return set(pending)


def _log_failed(row: OutboxRow) -> None:
    """A row that will not be tried again: in the log with its key and reason (never silent)."""
    log.error("outbox.failed", kind=row.kind, key=row.key, contact_id=row.contact_id, error=row.last_error,
              remedy="see `threadline outbox --failed`; fix the cause, then `threadline outbox retry KEY`")
