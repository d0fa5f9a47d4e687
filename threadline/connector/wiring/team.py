"""The team's mailboxes found from the CRM's owners (`mailbox_sources`): which owner gets which mailbox, and
the adapters for the found ones (the engine asks each cycle; see sync/mailboxes/found.py for the store side)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from threadline.adapters.records import CrmOwner
from threadline.config.models import Settings
from threadline.sync.engine import MailboxBinding
from threadline.sync.mailboxes.found import CONNECTED, FoundMailbox, active_found, record_found
from threadline.sync.mailboxes.owners import record_owners
from threadline.sync.store.database import Store
from threadline.sync.store.tables import FoundMailboxRow

log = structlog.get_logger("threadline.team")
BuildBinding = Callable[[Settings, FoundMailboxRow], MailboxBinding | None]


def owners_mailboxes(settings: Settings, owners: Sequence[CrmOwner]) -> list[FoundMailbox]:
    """The mailbox each active owner gets from the first source that covers their address. An entry under
    `mailboxes:` for the same address wins, so it is not found twice."""
    explicit = {box.address.lower() for box in settings.mailboxes}
    found: dict[str, FoundMailbox] = {}
    for index, source in enumerate(settings.mailbox_sources):
        for owner in owners:
            address = (owner.email or "").lower()
            if owner.active and address and address not in explicit and address not in found \
                    and source.covers(address):
                found[address] = FoundMailbox(address, source.kind, f"mailbox_sources[{index}]", owner.id)
    return list(found.values())


class TeamDirectory:
    """The engine's MailboxDirectory for `mailbox_sources`, over the store every replica shares."""

    def __init__(self, settings: Settings, store: Store, build: BuildBinding) -> None:
        self.settings = settings
        self.store = store
        self.build = build
        self.explicit = {box.address for box in settings.mailboxes}     # these win: never built from a row
        self._built: dict[str, tuple[str, str, str | None, str]] = {}
        self._unbuildable: dict[str, tuple[str, str, str | None, str]] = {}

    def owners_seen(self, owners: Sequence[CrmOwner]) -> None:
        with self.store.session() as session:
            record_owners(session, owners)
            record_found(session, owners_mailboxes(self.settings, owners),
                         {owner.email.lower(): owner.id for owner in owners if owner.active and owner.email})

    def changes(self, current: set[str]) -> tuple[list[MailboxBinding], set[str]]:
        with self.store.session() as session:
            rows = [row for row in active_found(session) if row.address not in self.explicit]
        wanted = {row.address: _version(row) for row in rows}
        # A mailbox whose owner changed, or that its rep connected again (new tokens), is built anew.
        renewed = {address for address in current if address in wanted and self._built.get(address) != wanted[address]}
        added = []
        for row in rows:
            version = wanted[row.address]
            if (row.address in current and row.address not in renewed) or self._unbuildable.get(row.address) == version:
                continue
            binding = self.build(self.settings, row)
            if binding is None:
                # Its source left the config, or a connected mailbox's tokens are gone: said once, not rebuilt
                # (and its secrets read) every cycle until the row changes.
                self._unbuildable[row.address] = version
                log.warning("mailbox.unbuildable", mailbox=row.address, source=row.source)
                continue
            added.append(binding)
            self._built[row.address] = version
        dropped = {address for address in current if address not in wanted and address not in self.explicit}
        for address in dropped:
            self._built.pop(address, None)
        return added, dropped | renewed


def _version(row: FoundMailboxRow) -> tuple[str, str, str | None, str]:
    """What a built binding depends on: its kind, source and owner, and for a connected mailbox its tokens
    (a reconnect writes the row again)."""
    return row.kind, row.source, row.owner_id, row.updated_at.isoformat() if row.source == CONNECTED else ""


def source_of(settings: Settings, row: FoundMailboxRow) -> int | None:
    """The index of the source entry a found mailbox came from, if the config still has it."""
    try:
        index = int(row.source.split("[", 1)[1].rstrip("]"))
    except (IndexError, ValueError):
        return None
    return index if index < len(settings.mailbox_sources) else None
