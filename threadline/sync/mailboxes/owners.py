"""The CRM's owners as the last owners pull saw them, so the status page can list the owners with no mailbox.

The replica that pulls the CRM records every owner it was shown (`record_owners`, on each owners pull); an owner
the CRM no longer lists stays, inactive, with when it was last seen. `owners_without_mailbox` is what the admin
is asked to act on: active owners with an address that no mailbox covers (configured, found or connected).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from threadline.adapters.records import CrmOwner
from threadline.sync.store.tables import CrmOwnerRow, FoundMailboxRow, utcnow
from threadline.sync.store.upsert import upsert

ID_CHARS, EMAIL_CHARS, NAME_CHARS = 64, 320, 200


def record_owners(session: Session, owners: Sequence[CrmOwner], *, now: datetime | None = None) -> tuple[int, int]:
    """Make the stored owners the CRM's owners now: each one listed new or changed is written (active as the CRM
    says; `seen_at` is when it was first listed as it is now), each one no longer listed becomes inactive. Owners
    whose id does not fit the table are left out (never an error that would stop the CRM pull). Returns
    (written, no longer listed)."""
    now = now or utcnow()
    seen: dict[str, dict[str, Any]] = {}
    for owner in owners:
        if not owner.id or len(owner.id) > ID_CHARS:
            continue
        email = (owner.email or "").strip().lower()
        entry = {"id": owner.id, "email": email if email and len(email) <= EMAIL_CHARS else None,
                 "name": (owner.name or "")[:NAME_CHARS], "active": owner.active, "seen_at": now}
        previous = seen.get(owner.id)
        # One row per id (an UPSERT must not touch a row twice): an active listing wins over a deactivated one.
        if previous is None or (owner.active and not previous["active"]):
            seen[owner.id] = entry
    stored = {row.id: row for row in session.exec(select(CrmOwnerRow)).all()}
    # Only what changed is written: a CRM pull of a 2,000-owner team with nothing new writes nothing.
    rows = [entry for entry in seen.values() if (known := stored.get(entry["id"])) is None
            or (known.email, known.name, known.active) != (entry["email"], entry["name"], entry["active"])]
    upsert(session, CrmOwnerRow, rows, ["id"])
    gone = [row for row in stored.values() if row.active and row.id not in seen]
    for row in gone:
        row.active, row.seen_at = False, now
        session.add(row)
    return len(rows), len(gone)


def owners_without_mailbox(session: Session, settings_addresses: Iterable[str]) -> list[CrmOwnerRow]:
    """Active owners with an address that has no active mailbox of any source: not under `mailboxes:` (the
    addresses given), not found from `mailbox_sources`, not connected. Ordered by address."""
    covered = {address.strip().lower() for address in settings_addresses}
    covered |= set(session.exec(select(FoundMailboxRow.address).where(col(FoundMailboxRow.active))).all())
    owners = session.exec(select(CrmOwnerRow).where(col(CrmOwnerRow.active), col(CrmOwnerRow.email).is_not(None))
                          .order_by(col(CrmOwnerRow.email), col(CrmOwnerRow.id))).all()
    return [owner for owner in owners if owner.email and owner.email not in covered]
