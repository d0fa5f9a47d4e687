"""Perform `create_contact` outbox rows (sync.create_contacts): make the CRM record of a person who wrote in.

A row is keyed by the person's normalised address (keys.create_contact_key), so every mailbox and replica that
reads mail from them intends it once. The CRM adapter looks the address up before it creates anything
(`create_contacts`: consistent reads, a duplicate refused by the CRM read again), so a row performed twice, or
after a crash between the CRM's create and the commit here, finds the record instead of making a second one.

A performed row, in one transaction: is marked done with the record's id (and names it as its contact), puts the
record in the contact mirror (so mail from the person matches at once; the next pull brings the CRM's full
version), records it in `created_contacts` (`threadline status` counts them) and writes one audit row (listed
by `threadline audit`: the record's id, what was done and where the mail came in; no address or text, the
contact's name is shown from the mirror). The mail that asked for it waits in deferred_mail (contact_waits.py)
and is decided again once the mirror has the record.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlmodel import Session

from threadline.adapters.records import ContactCreated, NewContact
from threadline.crashpoints import crashpoint
from threadline.sync.contacts.mirror import save_contacts
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.fenced_call import Ended, fenced_call
from threadline.sync.store.tables import (
    AuditRow,
    ContactAddressRow,
    ContactRow,
    CreatedContactRow,
    OutboxRow,
    utcnow,
)
from threadline.sync.store.upsert import insert_ignore

# The executor and its summary are typed Any here: crm_writes imports this module (see deletes.py).
OutboxExecutor = Any
OutboxSummary = Any

log = structlog.get_logger("threadline.outbox")
KIND = "create_contact"
RULE = "sync.create_contacts"
#: The mirror's addresses are stored normalised; the request's address already is (lower-case, nothing stripped).
AS_GIVEN = AddressPolicy(plus_addressing=False)


def create_contact_batch(executor: OutboxExecutor, summary: OutboxSummary) -> bool:
    """Claim and perform one batch of create_contact rows; False when none was due (the caller's loop moves on)."""
    rows = executor._claim(KIND)
    if not rows:
        return False
    with executor.store.session() as session:
        rows = executor._held(session, rows)
    if not rows:
        return True
    by_key = {r.key: r for r in rows}
    requests = [NewContact.model_validate(json.loads(r.payload)["contact"]) for r in rows]

    def create() -> list[ContactCreated]:
        created = executor.crm.create_contacts(requests)
        crashpoint("outbox.after_contact_create")
        return list(created)

    results = fenced_call(executor, by_key, summary, create)
    if isinstance(results, Ended):
        return results.more
    answered = {r.key: r for r in results if r.key in by_key}
    _done(executor, {k: by_key[k] for k in answered}, answered, summary)
    unanswered = {k: r for k, r in by_key.items() if k not in answered}
    if unanswered:      # refused one by one (the adapter logged why): retried until sync.give_up_after
        executor._finish(unanswered, {}, summary)
    return True


def _done(executor: OutboxExecutor, rows: dict[str, OutboxRow], results: dict[str, ContactCreated],
          summary: OutboxSummary) -> None:
    with executor.store.session() as session:
        for key, claimed in rows.items():
            row = session.get(OutboxRow, claimed.id, with_for_update=True)
            if row is None or not outbox.holds(row, executor.owner):
                log.warning("outbox.lease_lost", key=key)       # its new performer looks the address up again
                continue
            result = results[key]
            payload = json.loads(row.payload)
            outbox.mark_done(row, result.contact.id)
            row.contact_id = result.contact.id
            session.add(row)
            _mirror(session, result, payload["contact"]["email"])
            _record(session, row, result, payload)
            summary.performed[KIND] += 1
            log.info("outbox.performed", kind=KIND, key=key, contact_id=result.contact.id, created=result.created,
                     object_type=result.contact.object_type)


def _mirror(session: Session, result: ContactCreated, address: str) -> None:
    """The record in the contact mirror now, under the address the mail came from; a record the mirror has
    already keeps its fuller version (the pull's), only the address is added."""
    if session.get(ContactRow, result.contact.id) is None:
        save_contacts(session, [result.contact], AS_GIVEN)
    insert_ignore(session, ContactAddressRow, [{"address": address, "contact_id": result.contact.id}],
                  ["address", "contact_id"])


def _record(session: Session, row: OutboxRow, result: ContactCreated, payload: dict[str, Any]) -> None:
    mode, mailbox = str(payload.get("mode", "")), str(payload.get("mailbox", ""))
    contact = result.contact
    insert_ignore(session, CreatedContactRow, [{
        "key": row.key, "crm_id": contact.id, "object_type": contact.object_type, "created": result.created,
        "mode": mode, "mailbox": mailbox, "at": utcnow()}], ["key"])
    what = f"created {contact.object_type} {contact.id}" if result.created else \
        f"found {contact.object_type} {contact.id} already in the CRM (not created)"
    reason = f"{what}: mail from a person no contact had, in {mailbox} (sync.create_contacts: {mode})"
    detail = {"crm_id": contact.id, "object_type": contact.object_type, "created": result.created,
              "mode": mode, "mailbox": mailbox}
    insert_ignore(session, AuditRow, [{"at": utcnow(), "rule": RULE, "contact_id": contact.id, "effect_key": row.key,
                                       "kind": KIND, "reason": reason[:1000],
                                       "detail": json.dumps(detail, sort_keys=True)}], ["effect_key"])
