"""Typed records exchanged between adapters and the engine.

They carry what the engine needs and nothing provider-specific; adapters build
them from provider payloads and accept them back for writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Folder = Literal["inbox", "sent"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CrmContact(Record):
    """A contact (or lead) as the CRM holds it."""

    id: str
    emails: tuple[str, ...] = ()            # primary first, then additional addresses, as stored
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    owner_id: str | None = None
    updated_at: datetime
    object_type: str = "contact"            # "contact" | "lead" (Salesforce)
    merged_into: str | None = None          # set when the CRM says this record was merged away
    deleted: bool = False
    properties: Mapping[str, Any] = Field(default_factory=dict)


class ContactPage(Record):
    """One page of contact changes plus the cursor that is safe to store once the page is saved."""

    contacts: tuple[CrmContact, ...]
    cursor: dict[str, Any]


class RawMessage(Record):
    """One message as fetched from a mailbox: the RFC 5322 bytes plus provider identity."""

    provider_id: str                        # stable within the mailbox: Gmail id, Graph id, "INBOX/<uidvalidity>/<uid>"
    folder: Folder
    raw: bytes
    thread_id: str | None = None            # provider thread id where there is one (Gmail threadId)
    internal_date: datetime | None = None
    # The labels the message carries now, by name as the admin writes them: Gmail label names, Outlook
    # categories, IMAP keywords and the folder it was read from (sync.only_labelled / never_labelled). None: not
    # read (no label settings, or mail kept to be decided again, which passed the label settings when first read).
    labels: tuple[str, ...] | None = None


class MailPage(Record):
    """One page of new messages plus the cursor that is safe to store once they are processed.

    `resync_reason` is set on pages produced by a full resync (cursor expired,
    UIDVALIDITY changed) so status can say why a mailbox was read again.
    """

    messages: tuple[RawMessage, ...]
    cursor: dict[str, Any]
    resync_reason: str | None = None


class EmailActivity(Record):
    """A reply (or outgoing mail) to log on a CRM contact. `key` is the idempotency key."""

    key: str
    contact_id: str
    direction: Literal["incoming", "outgoing"]
    occurred_at: datetime
    subject: str
    text: str                               # the reply context: new text only
    from_address: str
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    message_id: str | None = None
    thread_ref: str | None = None           # thread identity for the record (Gmail threadId or root Message-ID)
    owner_id: str | None = None


class LoggedActivity(Record):
    """The CRM's answer for one logged activity."""

    key: str
    remote_id: str


class ContactUpdate(Record):
    """Absolute property values to write on a contact (absolute, so a retry is harmless)."""

    contact_id: str
    properties: Mapping[str, str]


class CheckResult(Record):
    """One line of `threadline check`."""

    target: str                             # "hubspot", "gmail rep@example.com", ...
    item: str                               # "reach", "scopes", "property threadline_reply_count", ...
    ok: bool
    detail: str = ""


# -- the rule layer's CRM operations ------------------------------------------------------------

class TaskRequest(Record):
    """A follow-up task to create for a contact's owner. `key` is the idempotency key (effect key)."""

    key: str
    contact_id: str
    owner_id: str | None
    subject: str
    body: str
    due_at: datetime
    priority: Literal["LOW", "MEDIUM", "HIGH"] = "MEDIUM"


class TaskState(Record):
    """A task found by its key: enough to tell whether its SLA is breached."""

    key: str
    remote_id: str
    status: Literal["open", "completed"]
    owner_id: str | None
    due_at: datetime | None


class CrmOwner(Record):
    """A CRM user who can own contacts (HubSpot owner, Salesforce User)."""

    id: str
    email: str | None
    name: str
    active: bool = True


class CrmField(Record):
    """A contact field as the CRM's schema describes it now (HubSpot property, Salesforce describe).

    `type` is the CRM's own type name ("number", "enumeration", "bool" in HubSpot; "double", "picklist",
    "boolean" in Salesforce). `options`: the values an enumeration/picklist offers; `restricted`: the CRM
    refuses any other value. `writable`: the API user may set it (HubSpot readOnlyValue/calculated;
    Salesforce `updateable`, which already reflects field-level security for the API user)."""

    name: str
    type: str
    options: tuple[str, ...] = ()
    restricted: bool = False
    writable: bool = True


class CrmMeeting(Record):
    """A meeting booked with one or more contacts (HubSpot meeting, Salesforce Event)."""

    id: str
    contact_ids: tuple[str, ...]
    starts_at: datetime | None
    created_at: datetime


class FieldWrite(Record):
    """Absolute values for any contact fields (score, tier, lifecycle stage, owner); a retry is harmless."""

    contact_id: str
    fields: Mapping[str, str]


class NewContact(Record):
    """A person to create in the CRM from mail (sync.create_contacts): found by `email` first, created if absent."""

    key: str                                # the outbox key (one per normalised address)
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    owner_id: str | None = None             # the CRM owner of the mailbox the mail came to (a rep), if known


class ContactCreated(Record):
    """What `create_contacts` did for one NewContact: the record it made, or the one that already had the address."""

    key: str
    contact: CrmContact
    created: bool                           # False: the CRM already had a record with this address
