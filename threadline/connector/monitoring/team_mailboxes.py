"""Every mailbox of the team, where it came from (the config, found from the CRM's owners, or connected by its
rep), its CRM owner, and its state (syncing, waiting, reauthorize, failing with the reason, stopped).

One reading for `threadline mailboxes` and the status page, so both always say the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from threadline.config.models import Settings
from threadline.connector.monitoring.readiness import read_health, refused_last
from threadline.connector.monitoring.reauthorize import remedy
from threadline.sync.engine import mailbox_source
from threadline.sync.mailboxes.found import CONNECTED, all_found
from threadline.sync.store.database import Store
from threadline.sync.store.tables import SyncErrorRow


@dataclass(frozen=True)
class MailboxLine:
    address: str
    kind: str
    source: str                    # config | crm_owners | connected
    owner_id: str | None
    state: str                     # syncing | waiting | reauthorize | failing | stopped
    detail: str
    last_success_at: str | None


def mailbox_lines(settings: Settings, store: Store | None = None) -> list[MailboxLine]:
    """The configured mailboxes, then those found from the CRM's owners or connected, each with its state from
    the store. `store`: an open store to read (kept open); without one, the configured store is opened and
    disposed of again."""
    if store is not None:
        return _lines(settings, store)
    own = Store(settings.store.url)
    try:
        return _lines(settings, own)
    finally:
        own.dispose()


def _lines(settings: Settings, store: Store) -> list[MailboxLine]:
    configured = {box.address for box in settings.mailboxes}       # EmailAddress is lowercase already
    with store.session() as session:
        found = [row for row in all_found(session) if row.address not in configured]
    entries: list[tuple[str, str, str, str | None, bool, str]] = [
        (box.address, box.kind, "config", box.owner_id, True, "") for box in settings.mailboxes]
    entries += [(row.address, row.kind, row.source if row.source == CONNECTED else "crm_owners", row.owner_id,
                 row.active, row.reason) for row in found]
    health = read_health(store, [mailbox_source(address) for address, *_ in entries])
    last_errors = _last_errors(store, [unit for unit, seen in health.items() if seen.last_error_at is not None])
    lines = []
    for address, kind, source, owner_id, active, reason in entries:
        unit = mailbox_source(address)
        seen = health.get(unit)
        success = _text(seen.last_success_at) if seen else None
        if not active:
            state, detail = "stopped", reason + (" (its cursor is kept: a new connect link resumes it)"
                                                 if source == CONNECTED else
                                                 " (its cursor is kept: it resumes if the owner comes back)")
        elif seen is None or (seen.last_success_at is None and seen.last_error_at is None):
            state, detail = "waiting", "not pulled yet"
        elif refused_last(seen):
            state, detail = "reauthorize", remedy(unit, settings, kind if source == CONNECTED else None)
        elif seen.last_error_at is not None and (seen.last_success_at is None
                                                 or seen.last_error_at > seen.last_success_at):
            state, detail = "failing", f"{last_errors.get(unit) or 'an error'}; retried at the next poll, the others go on"
        else:
            state, detail = "syncing", ""
        lines.append(MailboxLine(address, kind, source, owner_id, state, detail, success))
    return lines


def _last_errors(store: Store, units: list[str]) -> dict[str, str]:
    """Each unit's newest error message, in one query (the status page and /metrics read this on every visit)."""
    if not units:
        return {}
    with store.session() as session:
        newest = (select(func.max(SyncErrorRow.id)).where(col(SyncErrorRow.source).in_(units))
                  .group_by(col(SyncErrorRow.source)))
        rows = session.exec(select(SyncErrorRow.source, SyncErrorRow.message)
                            .where(col(SyncErrorRow.id).in_(newest))).all()
    return {source: message for source, message in rows}


def _text(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
