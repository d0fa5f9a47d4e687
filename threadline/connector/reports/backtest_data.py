"""`threadline backtest`: the store read in keyset batches of contacts (each with its events) and folded into a
Backtest. Read-only: it opens the store without migrating it and only ever selects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlmodel import col, select

from threadline.rules.runner import PASS_BATCH
from threadline.rules.scoring.backtest import Backtest
from threadline.rules.store import contact_facts, live_contact_ids_after
from threadline.sync.events.log import EventTuple, event_rows_for
from threadline.sync.store.database import Store, current_revision, head_revision
from threadline.sync.store.tables import ContactRow


class StoreNotCurrent(Exception):
    """The store's schema is older (or newer) than this Threadline's: a backtest does not migrate it."""


@dataclass(frozen=True)
class Batch:
    """One keyset page: its contact ids and how many events they have together."""

    contact_ids: list[str]
    events: int


def open_read_only(url: str) -> Store:
    """The store as it is, not migrated (a migration would be a write). Raises StoreNotCurrent."""
    store = Store(url, migrate=False)
    found, wanted = current_revision(store.engine), head_revision()
    if found != wanted:
        store.dispose()
        raise StoreNotCurrent(f"the store at revision {found or 'none'} is not at {wanted}; "
                              "run `threadline db upgrade` first")
    return store


def replay_store(store: Store, backtest: Backtest, *, batch_size: int = PASS_BATCH, owner_field: str | None = None,
                 on_batch: Callable[[Batch], None] | None = None) -> int:
    """Feed every live contact, in id order, `batch_size` at a time, to `backtest`; returns how many. Memory
    holds one batch of contacts and their events (each batch read in a short session of its own)."""
    count = 0
    for rows, history in _batches(store, batch_size):
        for row in rows:
            backtest.add(contact_facts(row, owner_field), history.get(row.crm_id, []))
        count += len(rows)
        if on_batch is not None:
            on_batch(Batch([row.crm_id for row in rows], sum(len(events) for events in history.values())))
    return count


def _batches(store: Store, size: int) -> Iterator[tuple[list[ContactRow], dict[str, list[EventTuple]]]]:
    after = ""
    while True:
        with store.session() as session:
            ids = live_contact_ids_after(session, after, size)
            if not ids:
                return
            rows = list(session.exec(select(ContactRow).where(col(ContactRow.crm_id).in_(ids))
                                     .order_by(col(ContactRow.crm_id))).all())
            history = event_rows_for(session, ids)
        yield rows, history
        after = ids[-1]
