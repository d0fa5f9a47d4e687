"""Mail that asked for a contact to be created (sync.create_contacts) waits here until the contact is mirrored.

The message that makes Threadline create a person is skipped like any mail from nobody known, and kept in
deferred_mail as a `contact` wait whose `thread_ref` is the person's normalised address. Once the contact mirror
has a record for that address (the create performed: sync/outbox/contact_creates.py; or the record arrived with a
contact pull), the waits are taken and decided again as fresh messages, with the same keys, so each is logged once
(MailboxSync.settle_contact_waits; the engine runs it after the CRM writes and after a contact pull). A wait whose
contact is never made (the CRM refused it for good) is forgotten after CONTACT_WAIT; the message stays skipped.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from threadline.adapters.records import RawMessage
from threadline.sync.mailboxes.deferred import defer
from threadline.sync.store.tables import ContactAddressRow, DeferredMailRow, MessageRow, as_utc

CONTACT = "contact"
#: How long a message waits for the contact it asked for.
CONTACT_WAIT = timedelta(days=30)
BATCH = 200
#: The MessageRow reason while it waits (`threadline status` counts it with the skipped ones).
WAITING = "no known contact yet: sync.create_contacts is creating one"


def wait_for_contact(session: Session, mailbox: str, owner_id: str | None, raw: RawMessage, address: str) -> None:
    """Keep `raw` until the mirror has a contact for `address` (normalised), in the caller's transaction."""
    defer(session, mailbox, owner_id, raw, kind=CONTACT, thread_ref=address[:400])


def take_ready(session: Session, limit: int = BATCH) -> list[tuple[str, str | None, RawMessage]]:
    """Remove and return (mailbox, owner id, message) for up to `limit` waits whose contact the mirror has now,
    oldest first; their `skipped` MessageRows go too, so the caller decides them as fresh messages. Each wait is
    removed by its own DELETE before it is returned: two replicas settling at once never both take one."""
    ready = select(ContactAddressRow.address)
    rows = list(session.exec(select(DeferredMailRow).where(
        DeferredMailRow.kind == CONTACT, col(DeferredMailRow.thread_ref).in_(ready))
        .order_by(col(DeferredMailRow.id)).limit(limit)).all())
    taken = []
    for row in rows:
        gone = session.execute(delete(DeferredMailRow).where(col(DeferredMailRow.id) == row.id))
        if not getattr(gone, "rowcount", 0):
            continue
        session.execute(delete(MessageRow).where(col(MessageRow.mailbox) == row.mailbox,
                                                 col(MessageRow.provider_id) == row.provider_id))
        taken.append((row.mailbox, row.owner_id, RawMessage(
            provider_id=row.provider_id, folder=row.folder, raw=zlib.decompress(row.raw), thread_id=row.thread_id,
            internal_date=as_utc(row.internal_date))))
    session.flush()
    return taken


def purge_contact_waits(session: Session, now: datetime) -> int:
    """Forget the messages that waited CONTACT_WAIT for a contact never made (they stay skipped)."""
    result = session.execute(delete(DeferredMailRow).where(col(DeferredMailRow.kind) == CONTACT,
                                                           col(DeferredMailRow.deferred_at) < now - CONTACT_WAIT))
    return int(getattr(result, "rowcount", 0) or 0)
