"""Keep the contact mirror current: pull CRM changes page by page, cursor saved with each page."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import CrmAdapter
from threadline.sync.cursors import load_cursor, mark_success, record_provider_error, save_cursor
from threadline.sync.matching import AddressPolicy
from threadline.sync.mirror import save_contacts
from threadline.sync.store.database import Store

log = structlog.get_logger("threadline.contacts")


@dataclass
class ContactSummary:
    pulled: int = 0
    error: str | None = None


def sync_contacts(store: Store, crm: CrmAdapter, policy: AddressPolicy) -> ContactSummary:
    """Pull contact changes since the stored cursor. Provider errors are recorded and returned."""
    source = f"crm:{crm.name}"
    summary = ContactSummary()
    with store.session() as session:
        cursor = load_cursor(session, source)
    try:
        for page in crm.pull_contacts(cursor):
            with store.session() as session:
                summary.pulled += save_contacts(session, page.contacts, policy)
                save_cursor(session, source, page.cursor)
        with store.session() as session:
            mark_success(session, source)
    except ProviderError as exc:
        summary.error = f"{exc.kind}: {exc}"
        log.warning("contacts.error", crm=crm.name, error=exc.kind, detail=str(exc)[:300])
        with store.session() as session:
            record_provider_error(session, source, exc)
    return summary
