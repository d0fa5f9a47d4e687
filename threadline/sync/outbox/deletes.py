"""Perform `delete_email` outbox rows: remove a logged email activity from the CRM (an opt-out label was added to
the message after it was logged; see sync/mailboxes/labels.py).

A delete row names the `log_email` row whose activity it removes. What happens depends on that row:

- pending or failed (never performed): it is cancelled, so it never is, and nothing is sent to the CRM;
- in flight (another performer is creating it now): the delete waits and is tried again shortly;
- done: the CRM record (its remote id) is deleted (HubSpot batch archive, Salesforce Task delete);
- gone from the store (retention): the activity is looked up by its key in the CRM and deleted if found.

A performed delete also cancels its log row (status `cancelled`, reason in last_error) in the same transaction,
so the contact's reply properties no longer count it, and intends a fresh `update_contact` to write them.
Deletes are idempotent at the CRM (archiving an archived engagement, deleting a deleted Task), so a retry after
an ambiguous failure is harmless.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, select

from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.fenced_call import Ended, fenced_call
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.store.tables import OutboxRow, utcnow

# The executor (crm_writes.OutboxExecutor) and its summary are typed Any here: crm_writes imports this module, and
# the outbox package's modules must not import each other both ways (import-linter).
OutboxExecutor = Any
OutboxSummary = Any

log = structlog.get_logger("threadline.outbox")
KIND = "delete_email"
#: How long a delete waits when the activity it removes is being created by another performer right now.
WAIT_FOR_CREATE = timedelta(seconds=3)


def delete_batch(executor: OutboxExecutor, summary: OutboxSummary) -> bool:
    """Claim and perform one batch of delete rows; False when none was due (the caller's loop moves on)."""
    rows = executor._claim(KIND)
    if not rows:
        return False
    with executor.store.session() as session:
        rows = executor._held(session, rows)
        plan = {r.key: _plan(session, r, executor.owner) for r in rows}
    by_key = {r.key: r for r in rows if plan[r.key] != "wait"}
    waiting = {r.key: r for r in rows if plan[r.key] == "wait"}
    if waiting:
        with executor.store.session() as session:
            executor._give_back(session, waiting, "waiting for the activity being logged to be created first",
                                WAIT_FOR_CREATE)
    if not by_key:
        return True
    lookup = [json.loads(r.payload)["log_key"] for r in by_key.values() if plan[r.key] == "lookup"]
    remote: dict[str, str] = {k: p for k, p in plan.items() if k in by_key and p not in ("lookup", "cancelled")}

    def delete() -> None:
        found = executor.crm.find_logged(lookup) if lookup else {}
        for key, row in by_key.items():
            if plan[key] == "lookup" and json.loads(row.payload)["log_key"] in found:
                remote[key] = found[json.loads(row.payload)["log_key"]]
        if remote:
            executor.crm.delete_emails(sorted(set(remote.values())))

    ended = fenced_call(executor, by_key, summary, delete)
    if isinstance(ended, Ended):
        return ended.more
    _done(executor, by_key, remote, summary)
    return True


def _plan(session: Session, row: OutboxRow, owner: str) -> str:
    """What the delete row needs: "wait", "cancelled" (its log row will never be performed now: nothing to
    delete), "lookup" (find the activity by key), or the remote id to delete."""
    log_key = json.loads(row.payload)["log_key"]
    # Never performed: cancel it, guarded by its status in the UPDATE itself, so a performer that claims it at
    # this moment either got it first (it is in flight: wait) or never gets it.
    cancelled = session.execute(
        update(OutboxRow).where(col(OutboxRow.key) == log_key, col(OutboxRow.status).in_(["pending", "failed"]))
        .values(status="cancelled", last_error=_withdrawn(row), lease_owner=None, lease_until=None,
                updated_at=utcnow()).returning(col(OutboxRow.id))).scalars().all()
    if cancelled:
        return "cancelled"
    logged = session.exec(select(OutboxRow).where(OutboxRow.key == log_key)).first()
    if logged is None:
        return "lookup"
    if logged.status == "in_flight":
        return "wait"
    if logged.status == "done" and logged.remote_id:
        return logged.remote_id
    return "cancelled" if logged.status == "cancelled" else "lookup"


def _done(executor: OutboxExecutor, rows: dict[str, OutboxRow], remote: dict[str, str],
          summary: OutboxSummary) -> None:
    """Mark the delete rows done, cancel their log rows and intend the contacts' reply properties again."""
    with executor.store.session() as session:
        updates = []
        for key, claimed in rows.items():
            row = session.get(OutboxRow, claimed.id, with_for_update=True)
            if row is None or not outbox.holds(row, executor.owner):
                log.warning("outbox.lease_lost", key=key)
                continue
            outbox.mark_done(row, remote.get(key))
            session.add(row)
            log_key = json.loads(row.payload)["log_key"]
            logged = session.exec(select(OutboxRow).where(OutboxRow.key == log_key).with_for_update()).first()
            if logged is not None and logged.status == "done":
                logged.status, logged.last_error = "cancelled", _withdrawn(row)
                session.add(logged)
            updates.append(Intent(_update_key(log_key), "update_contact", row.contact_id,
                                  {"contact_id": row.contact_id}))
            summary.performed[KIND] += 1
            log.info("outbox.performed", kind=KIND, key=key, contact_id=row.contact_id, remote_id=remote.get(key))
        intend(session, updates)


def _withdrawn(row: OutboxRow) -> str:
    label = json.loads(row.payload).get("label")
    return f"withdrawn: the message was labelled {label!r} after it was logged (delete {row.key})"[:1000]


def _update_key(log_key: str) -> str:
    """The reply-properties refresh after one withdrawal (its own key: the one after the log was used)."""
    return "uc-" + hashlib.sha256(f"update_contact_withdrawn\x1f{log_key}".encode()).hexdigest()[:40]
