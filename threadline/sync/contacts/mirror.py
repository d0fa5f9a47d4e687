"""The contact mirror: CRM contacts saved locally so matching never calls the CRM."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlmodel import Session, col, delete, select

from threadline.adapters.records import CrmContact
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.tables import ContactAddressRow, ContactRow, utcnow
from threadline.sync.store.upsert import insert_ignore, upsert


def save_contacts(session: Session, contacts: Sequence[CrmContact], policy: AddressPolicy) -> int:
    """Upsert contacts and their address index. Merged-away or deleted contacts lose their addresses. Idempotent."""
    if not contacts:
        return 0
    latest: dict[str, CrmContact] = {c.id: c for c in contacts}   # a page may repeat a contact
    # mirrored_at: when this CRM version first reached the mirror (a page repeated at a cursor boundary keeps it).
    upsert(session, ContactRow, [_row(c) for c in latest.values()], ["crm_id"],
           kept_while_same={"mirrored_at": "updated_at"})
    session.execute(delete(ContactAddressRow).where(col(ContactAddressRow.contact_id).in_(list(latest))))
    addresses = [
        {"address": policy.normalize(address), "contact_id": c.id}
        for c in latest.values() if not (c.deleted or c.merged_into) for address in c.emails if address
    ]
    insert_ignore(session, ContactAddressRow, addresses, ["address", "contact_id"])
    return len(latest)


def _row(contact: CrmContact) -> dict[str, object]:
    return {
        "crm_id": contact.id,
        "object_type": contact.object_type,
        "primary_email": contact.emails[0].lower() if contact.emails else None,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company,
        "owner_id": contact.owner_id,
        "updated_at": contact.updated_at,
        "merged_into": contact.merged_into,
        "deleted": contact.deleted,
        "properties": json.dumps(dict(contact.properties), default=str, sort_keys=True),
        "mirrored_at": utcnow(),
    }


def contacts_for_address(session: Session, address: str) -> list[str]:
    """Contact ids that own this (already normalised) address."""
    return list(session.exec(select(ContactAddressRow.contact_id).where(ContactAddressRow.address == address)).all())


def surviving_contact(session: Session, contact_id: str) -> str:
    """Follow merges to the record that survives (bounded, in case of a merge cycle)."""
    for _ in range(10):
        row = session.get(ContactRow, contact_id)
        if row is None or not row.merged_into:
            return contact_id
        contact_id = row.merged_into
    return contact_id


def write_through(session: Session, contact_id: str, fields: dict[str, str], owner_field: str | None = None) -> None:
    """Our own field write, performed: the mirror holds it at once, so the next pull compares the CRM with what
    we wrote (a hand edit back to an earlier value, or an owner taken away again, is still a change). Only
    fields the pull keeps current are written through (and the owner, under `owner_field`); the CRM's update
    time and `mirrored_at` are left alone (the pull owns them)."""
    row = session.get(ContactRow, surviving_contact(session, contact_id))
    if row is None:
        return
    if owner_field and owner_field in fields and row.owner_id != (fields[owner_field] or None):
        row.owner_id = fields[owner_field] or None
        session.add(row)
    properties = json.loads(row.properties or "{}")
    kept = {name: value for name, value in fields.items() if name in properties}
    if kept and any(properties.get(name) != value for name, value in kept.items()):
        row.properties = json.dumps({**properties, **kept}, default=str, sort_keys=True)
        session.add(row)
