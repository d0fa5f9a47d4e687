"""The ingest's part in sync.create_contacts: a skipped message from an unknown person may ask for their contact.

Called for every skipped message (ingest.py). A message that qualifies (create_policy.py) records one
`create_contact` outbox intent, keyed by the person's normalised address (so every mailbox and replica that reads
their mail intends it once), and waits for the contact in deferred_mail (contact_waits.py) instead of being
dropped; it is logged on the new contact once the mirror has it.

In `rep_emailed` mode a reply only qualifies when it answers mail a rep sent, so it depends on that sent message
being stored first, and Gmail's backfill reads newest first. So a rep's sent message, once stored, makes the
mailbox decide again the strangers' messages that wait for its thread (the same settling a logged message
triggers, ingest.py `_settle_threads`): the reply read before it qualifies then.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import update
from sqlmodel import Session, col, select

from threadline.adapters.records import NewContact, RawMessage
from threadline.sync.contacts.create_policy import ContactCreation, contact_fields, why_not
from threadline.sync.mail.classify import Classification
from threadline.sync.mail.matching import AddressPolicy, Decision
from threadline.sync.mail.message import ParsedMessage
from threadline.sync.mailboxes.contact_waits import WAITING, wait_for_contact
from threadline.sync.outbox.keys import create_contact_key
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.privacy.suppression import is_forgotten
from threadline.sync.store.tables import MessageRow, OutboxRow

KIND = "create_contact"


class Counts(Protocol):
    """The parts of MailboxSummary this module updates."""

    intended: int
    logged_threads: set[str]


def asks_for_contact(session: Session, creation: ContactCreation, policy: AddressPolicy, mailbox: str,
                     owner_id: str | None, raw: RawMessage, parsed: ParsedMessage, classification: Classification,
                     decision: Decision, summary: Counts) -> bool:
    """For a message just recorded as skipped: True when it asked for its sender's contact and now waits for it
    (intent and wait recorded in the caller's transaction); False when it is left as it was."""
    if not creation.on:
        return False
    if raw.folder == "sent":
        if creation.mode == "rep_emailed":          # replies read before it may qualify now (module docstring)
            root = (parsed.references[0] if parsed.references else parsed.in_reply_to) or parsed.message_id
            summary.logged_threads.update(r[:400] for r in (root, parsed.message_id) if r)
        return False
    sender = policy.normalize(parsed.from_address)
    refs = [r for r in (parsed.in_reply_to, *parsed.references) if r]
    if why_not(creation, decision, classification.kind, raw.folder, sender, policy,
               lambda: answers_rep(session, refs), mailbox) is not None:
        return False
    if is_forgotten(session, sender, policy):        # a data-subject request: never created again from mail
        return False
    key = create_contact_key(sender)
    earlier = session.exec(select(OutboxRow.status).where(OutboxRow.key == key)).first()
    if earlier is not None and earlier not in ("pending", "in_flight"):
        # Made (or refused for good) before, and the mirror has no record for the address now: someone deleted or
        # merged it in the CRM, or it was refused. Threadline does not make it again; the message is skipped.
        return False
    fields = contact_fields(sender, parsed.from_name)
    contact = NewContact(key=key, email=fields.email, first_name=fields.first_name, last_name=fields.last_name,
                         company=fields.company, owner_id=owner_id)
    payload = {"contact": contact.model_dump(mode="json"), "mode": creation.mode, "mailbox": mailbox}
    summary.intended += intend(session, [Intent(key, KIND, "", payload)])
    wait_for_contact(session, mailbox, owner_id, raw, sender)
    session.flush()
    session.execute(update(MessageRow).where(col(MessageRow.mailbox) == mailbox,
                                             col(MessageRow.provider_id) == raw.provider_id).values(reason=WAITING))
    return True


def answers_rep(session: Session, refs: list[str]) -> bool:
    """Whether one of `refs` (In-Reply-To, References) is the Message-ID of mail a rep sent, in any mailbox."""
    if not refs:
        return False
    return session.exec(select(MessageRow.id).where(MessageRow.folder == "sent",
                                                    col(MessageRow.message_id).in_(refs)).limit(1)).first() is not None
