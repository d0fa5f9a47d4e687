"""The team's mailboxes found from the CRM's owners (`mailbox_sources`): which owner gets which mailbox, and
the adapters for the found ones (the engine asks each cycle; see sync/mailboxes/found.py for the store side)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from threadline.adapters.records import CrmOwner
from threadline.config.models import Settings
from threadline.sync.engine import MailboxBinding
from threadline.sync.mailboxes.found import FoundMailbox, active_found, record_found
from threadline.sync.store.database import Store
from threadline.sync.store.tables import FoundMailboxRow

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

    def owners_seen(self, owners: Sequence[CrmOwner]) -> None:
        with self.store.session() as session:
            record_found(session, owners_mailboxes(self.settings, owners),
                         {owner.email.lower(): owner.id for owner in owners if owner.active and owner.email})

    def changes(self, current: set[str]) -> tuple[list[MailboxBinding], set[str]]:
        with self.store.session() as session:
            rows = active_found(session)
        wanted = {row.address for row in rows}
        explicit = {box.address.lower() for box in self.settings.mailboxes}
        added = [binding for row in rows if row.address not in current
                 if (binding := self.build(self.settings, row)) is not None]
        return added, {address for address in current if address not in wanted and address.lower() not in explicit}


def source_of(settings: Settings, row: FoundMailboxRow) -> int | None:
    """The index of the source entry a found mailbox came from, if the config still has it."""
    try:
        index = int(row.source.split("[", 1)[1].rstrip("]"))
    except (IndexError, ValueError):
        return None
    return index if index < len(settings.mailbox_sources) else None
