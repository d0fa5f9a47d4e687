"""Keep the contact mirror current: pull CRM changes page by page, cursor saved with each page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlmodel import Session, col, select

from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import CrmAdapter
from threadline.sync.contacts.changes import contact_events
from threadline.sync.contacts.mirror import save_contacts
from threadline.sync.events.log import record_events
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow
from threadline.sync.work.cursors import load_cursor, mark_success, record_provider_error, save_cursor

log = structlog.get_logger("threadline.contacts")


@dataclass
class ContactSummary:
    pulled: int = 0
    events: int = 0
    error: str | None = None


def sync_contacts(store: Store, crm: CrmAdapter, policy: AddressPolicy, *,
                  unsubscribe_field: str | None = None,
                  fence: Callable[[Session], None] | None = None) -> ContactSummary:
    """Pull contact changes since the stored cursor; record what changed as events (same transaction).

    Provider errors are recorded and returned. `fence(session)` runs before each cursor save and
    raises (LeaseLost) when another replica took the CRM pull over: that page is rolled back.
    """
    source = f"crm:{crm.name}"
    summary = ContactSummary()
    with store.session() as session:
        cursor = load_cursor(session, source)
    try:
        for page in crm.pull_contacts(cursor):
            with store.session() as session:
                old = {row.crm_id: row for row in session.exec(select(ContactRow).where(
                    col(ContactRow.crm_id).in_([c.id for c in page.contacts]))).all()}
                events = [e for c in page.contacts
                          for e in contact_events(old.get(c.id), c, unsubscribe_field=unsubscribe_field)]
                summary.events += record_events(session, events)
                summary.pulled += save_contacts(session, page.contacts, policy)
                if fence is not None:
                    fence(session)
                save_cursor(session, source, page.cursor)
        with store.session() as session:
            mark_success(session, source)
    except ProviderError as exc:
        summary.error = f"{exc.kind}: {exc}"
        log.warning("contacts.error", crm=crm.name, error=exc.kind, detail=str(exc)[:300])
        with store.session() as session:
            record_provider_error(session, source, exc)
    return summary
