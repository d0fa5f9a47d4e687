"""Mailboxes found from the CRM's owners, kept in the store so every replica syncs the same set.

The replica that pulls the CRM records what the owners say (`record_found`); every replica reads the active
set each cycle (`active_found`). An owner who leaves the set (archived, deactivated, excluded) is stopped with
the reason, never deleted: the mailbox's cursor stays, and it resumes from it if the owner comes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from threadline.sync.store.tables import FoundMailboxRow, utcnow
from threadline.sync.store.upsert import upsert

#: The source of a mailbox a rep connected through a connect link (connect_links.py).
CONNECTED = "connected"
STOPPED = "its CRM owner is archived or deactivated, or no longer matches mailbox_sources"


@dataclass(frozen=True)
class FoundMailbox:
    """A mailbox one of the CRM's owners should have: address, kind, the source entry and the owner id."""

    address: str
    kind: str
    source: str
    owner_id: str | None


def record_found(session: Session, found: Sequence[FoundMailbox], owners: Mapping[str, str] | None = None
                 ) -> tuple[int, int]:
    """Make the store's set the owners' set now: new ones and returning ones active, the rest stopped.
    A mailbox a rep connected through a link is theirs: a source never takes it over or stops it, and it only
    learns its owner id from `owners` (address -> CRM owner id). Returns (active, stopped)."""
    now = utcnow()
    rows = {row.address: row for row in session.exec(select(FoundMailboxRow)).all()}
    linked = {address for address, row in rows.items() if row.source == CONNECTED and row.active}
    found = [f for f in found if f.address not in linked]
    # Only what changed is written: a pull with nothing new writes nothing (a team of thousands, every pull).
    changed = [f for f in found if (row := rows.get(f.address)) is None or not row.active
               or (row.kind, row.source, row.owner_id) != (f.kind, f.source, f.owner_id)]
    upsert(session, FoundMailboxRow, [{"address": f.address, "kind": f.kind, "source": f.source,
                                       "owner_id": f.owner_id, "active": True, "reason": "", "updated_at": now}
                                      for f in changed], ["address"])
    addresses = {f.address for f in found}
    gone = [row for row in rows.values() if row.active and row.source != CONNECTED and row.address not in addresses]
    for row in gone:
        row.active, row.reason, row.updated_at = False, STOPPED, now
        session.add(row)
    for address in linked:
        row = rows[address]
        if owners is not None and owners.get(address) != row.owner_id:
            row.owner_id, row.updated_at = owners.get(address), now
            session.add(row)
    return len(found), len(gone)


def active_found(session: Session) -> list[FoundMailboxRow]:
    return list(session.exec(select(FoundMailboxRow).where(col(FoundMailboxRow.active))
                             .order_by(col(FoundMailboxRow.address))).all())


def all_found(session: Session) -> list[FoundMailboxRow]:
    return list(session.exec(select(FoundMailboxRow).order_by(col(FoundMailboxRow.address))).all())
