"""Keep the contact mirror current: pull CRM changes page by page, cursor saved with each page."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlmodel import Session, col, select

from threadline.adapters.daily_budget import ReserveReached, bulk_work
from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import CrmAdapter
from threadline.adapters.records import ContactPage
from threadline.crashpoints import crashpoint
from threadline.sync.contacts.changes import contact_events
from threadline.sync.contacts.mirror import save_contacts
from threadline.sync.contacts.reserve import DailyReserve
from threadline.sync.events.log import record_events
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.privacy.suppression import unforgotten
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow
from threadline.sync.work.cursors import (
    load_cursor,
    mark_success,
    record_provider_error,
    save_cursor,
    set_caught_up,
)

log = structlog.get_logger("threadline.contacts")


@dataclass
class ContactSummary:
    pulled: int = 0
    events: int = 0
    error: str | None = None
    paused_until: datetime | None = None    # stopped at the daily reserve: no page is taken before this
    cut_short: bool = False                 # stopped between pages because the engine is stopping


def sync_contacts(store: Store, crm: CrmAdapter, policy: AddressPolicy, *,
                  unsubscribe_field: str | None = None,
                  fence: Callable[[Session], None] | None = None,
                  reserve: DailyReserve | None = None,
                  stopping: threading.Event | None = None) -> ContactSummary:
    """Pull contact changes since the stored cursor; record what changed as events (same transaction).

    Provider errors are recorded and returned. `fence(session)` runs before each cursor save and
    raises (LeaseLost) when another replica took the CRM pull over: that page is rolled back.
    With a `reserve`, a page is taken only while the day's API budget has more than the reserve
    left; otherwise the pull stops with its cursor saved (`paused_until`), and a pull before that
    time makes no call at all. A paused pull counts as a success: it did what it should.
    """
    source = f"crm:{crm.name}"
    summary = ContactSummary()
    with store.session() as session:
        cursor = load_cursor(session, source)
        summary.paused_until = reserve.held_until(session) if reserve else None
        resuming = reserve.was_paused(session) is not None if reserve else False
    if summary.paused_until is not None:
        return summary
    try:
        with bulk_work(reserve.room) if reserve else nullcontext(), _closing(crm.pull_contacts(cursor)) as pages:
            while True:
                if reserve is not None and _pause(store, reserve, summary, resuming):
                    break
                resuming = False
                page = next(pages, None)
                if page is None:
                    break
                _save_page(store, source, page, policy, summary, unsubscribe_field, fence)
                crashpoint("contacts.after_page_commit")
                if stopping is not None and stopping.is_set():
                    # Shutting down: the page in hand is saved, the rest is read from the cursor next time.
                    summary.cut_short = True
                    return summary
        with store.session() as session:
            mark_success(session, source)
            # Read to the end, or paused part way: mail from unknown senders waits meanwhile (deferred.py).
            set_caught_up(session, source, summary.paused_until is None)
    except ReserveReached as stop:       # a page read ahead would have spent from the reserve: not sent
        assert reserve is not None
        with store.session() as session:
            summary.paused_until = reserve.pause(session, stop.budget, resuming=resuming)
            mark_success(session, source)
            set_caught_up(session, source, False)
    except ProviderError as exc:
        summary.error = f"{exc.kind}: {exc}"
        log.warning("contacts.error", crm=crm.name, error=exc.kind, detail=str(exc)[:300])
        with store.session() as session:
            record_provider_error(session, source, exc)
    return summary


@contextmanager
def _closing(pages: Iterable[ContactPage]) -> Iterator[Iterator[ContactPage]]:
    """The pages, closed when the pull stops early (a paused backfill's read-ahead threads stop at once)."""
    iterator = iter(pages)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _pause(store: Store, reserve: DailyReserve, summary: ContactSummary, resuming: bool) -> bool:
    """Before a page: True (pause recorded) when the day has no room above the reserve for it."""
    budget = reserve.budget()
    if reserve.room(budget):
        if resuming:
            with store.session() as session:
                reserve.resume(session, budget)
        return False
    assert budget is not None      # room() says yes when the budget is unknown
    with store.session() as session:
        summary.paused_until = reserve.pause(session, budget, resuming=resuming)
    return True


def _save_page(store: Store, source: str, page: ContactPage, policy: AddressPolicy, summary: ContactSummary,
               unsubscribe_field: str | None, fence: Callable[[Session], None] | None) -> None:
    """Mirror one page, its events and its cursor in one transaction."""
    with store.session() as session:
        # A person forgotten on request (`threadline forget`) is never mirrored again while the CRM still has them.
        contacts = unforgotten(session, page.contacts, policy)
        old = {row.crm_id: row for row in session.exec(select(ContactRow).where(
            col(ContactRow.crm_id).in_([c.id for c in contacts]))).all()}
        events = [e for c in contacts
                  for e in contact_events(old.get(c.id), c, unsubscribe_field=unsubscribe_field)]
        summary.events += record_events(session, events)
        summary.pulled += save_contacts(session, contacts, policy)
        if fence is not None:
            fence(session)
        save_cursor(session, source, page.cursor)
