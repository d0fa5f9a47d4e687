"""The two small protocols every provider adapter implements.

The engine only ever sees these; it never imports a concrete adapter.
Cursors cross this boundary as plain JSON-able dicts that only the adapter
interprets (each adapter keeps a typed cursor record inside).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from threadline.adapters.records import (
    CheckResult,
    ContactCreated,
    ContactPage,
    ContactUpdate,
    CrmContact,
    CrmField,
    CrmMeeting,
    CrmOwner,
    EmailActivity,
    FieldWrite,
    LoggedActivity,
    MailPage,
    NewContact,
    TaskRequest,
    TaskState,
)


class CrmAdapter(Protocol):
    """A CRM account: contacts in, activities and property values out."""

    name: str  # "hubspot" | "salesforce"
    owner_field: str  # the contact field that holds its owner ("hubspot_owner_id", "OwnerId")

    def pull_contacts(self, cursor: dict[str, Any] | None) -> Iterator[ContactPage]:
        """Yield contact changes since `cursor` (None: everything), page by page.

        Each page's cursor is safe to store once that page is saved. May raise
        RateLimited/TransientError (retry later), AuthExpired, PermanentError.
        """
        ...

    def log_emails(self, activities: Sequence[EmailActivity]) -> list[LoggedActivity]:
        """Create email activities associated with their contacts, batched.

        Every created record carries its activity's idempotency key so that
        `find_logged` can see it later. Returns one LoggedActivity per created record.
        """
        ...

    def find_logged(self, keys: Sequence[str]) -> dict[str, str]:
        """Look up activities already created for these idempotency keys: key -> remote id."""
        ...

    def update_contacts(self, updates: Sequence[ContactUpdate]) -> None:
        """Write absolute property values on contacts, batched. Idempotent."""
        ...

    def ensure_schema(self) -> list[CheckResult]:
        """Make sure the custom properties Threadline writes exist (create them if allowed)."""
        ...

    def check(self) -> list[CheckResult]:
        """Reach the provider and verify access; never raises for an unreachable provider."""
        ...

    # the rule layer's operations ----------------------------------------------------------------

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[LoggedActivity]:
        """Create open tasks on their contacts (owner, due time, priority set), batched.

        Every task carries its key so `find_tasks` sees it later. Not idempotent by itself:
        callers look the keys up with `find_tasks` before they try again. Returns one
        LoggedActivity per created task; raises PermanentError if none could be created.
        """
        ...

    def find_tasks(self, keys: Sequence[str]) -> dict[str, TaskState]:
        """Tasks already created for these keys: key -> state (open/completed, owner, due time)."""
        ...

    def write_fields(self, writes: Sequence[FieldWrite]) -> None:
        """Write absolute values on contacts (any field: score, tier, lifecycle stage, owner). Idempotent.

        Raises PermanentError (clear message) for values the CRM refuses, e.g. HubSpot moving a
        lifecycle stage backward; NotFound for contacts that no longer exist (after writing the others).
        """
        ...

    def list_owners(self) -> list[CrmOwner]:
        """Every user who can own contacts, inactive ones with `active=False`."""
        ...

    def pull_meetings(self, cursor: dict[str, Any] | None) -> Iterator[tuple[list[CrmMeeting], dict[str, Any]]]:
        """Meetings with contacts created or changed since `cursor` (None: all), page by page.

        Each page's cursor is safe to store once that page is processed. A meeting may come
        again (changed later, or re-read at a page boundary): consumers dedupe by meeting id.
        """
        ...

    def contact_fields(self) -> dict[str, dict[str, CrmField]]:
        """The fields a rule may read or write, per record type ("contact" on HubSpot; "Contact" and "Lead"
        on Salesforce), keyed by lower-cased name, as the CRM's schema has them now. May raise ProviderError."""
        ...

    def rule_fields_schema(self, fields: Sequence[tuple[str, ...]]) -> list[CheckResult]:
        """Make sure the contact fields the rules write exist: (name, "number" | "string" | "enumeration",
        *options) — options are optional (enumeration values, used where the CRM needs them).

        HubSpot creates missing custom properties; Salesforce reports what the admin must create.
        """
        ...

    # sync.create_contacts ------------------------------------------------------------------------

    def find_contacts_by_email(self, emails: Sequence[str]) -> dict[str, CrmContact]:
        """The live records (HubSpot contacts; Salesforce Contacts, then unconverted Leads) that have these
        addresses: lower-cased address -> record. Consistent reads (no search index), so a record created a
        moment ago is found."""
        ...

    def delete_emails(self, remote_ids: Sequence[str]) -> None:
        """Delete email activities Threadline logged (an opt-out label added after logging), batched. Idempotent:
        an id already gone is not an error."""
        ...

    def create_contacts(self, contacts: Sequence[NewContact]) -> list[ContactCreated]:
        """Create the people not in the CRM yet (HubSpot contacts; Salesforce Leads), after looking them up by
        address; one ContactCreated per request, `created=False` for an address the CRM already had (found
        first, or refused as a duplicate). Safe to repeat. Raises PermanentError if the CRM refuses them all."""
        ...

    def close(self) -> None:
        """Release connections (the httpx client it was built with)."""
        ...


class MailboxAdapter(Protocol):
    """One rep's mailbox (Gmail, Outlook or IMAP)."""

    kind: str      # "gmail" | "outlook" | "imap"
    address: str   # the rep's address

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[MailPage]:
        """Yield new messages in INBOX and Sent since `cursor`, page by page.

        None means first sync (backfill window). When the provider says the cursor
        is gone, the adapter resyncs and marks those pages with `resync_reason`;
        the engine dedupes, so a resync never duplicates anything downstream.
        """
        ...

    def check(self) -> list[CheckResult]:
        """Log in / reach the mailbox and verify access; never raises."""
        ...

    def label_names(self) -> set[str]:
        """The names `only_labelled`/`never_labelled` may use here: Gmail labels, Outlook categories, IMAP
        keywords and folders. May raise ProviderError."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
