"""Tables of the state store. The store keeps what sync needs (headers, reply context), not mailboxes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: datetime | None) -> datetime | None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands them back naive)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ContactRow(SQLModel, table=True):
    """The local mirror of a CRM contact (or lead)."""

    __tablename__ = "contacts"
    crm_id: str = Field(primary_key=True, max_length=64)
    object_type: str = Field(default="contact", max_length=16)
    primary_email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=300)
    owner_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime                     # the CRM's last-modified time (the CRM's clock)
    merged_into: str | None = Field(default=None, max_length=64)
    deleted: bool = False
    properties: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    # When this version reached the mirror, on Threadline's clock: the rules compare it with their own outbox
    # rows (same clock) to tell which writes the mirror cannot show yet; the CRM's clock may differ.
    mirrored_at: datetime | None = None


class ContactAddressRow(SQLModel, table=True):
    """Address -> contact lookup used by matching (normalised, lower-case)."""

    __tablename__ = "contact_addresses"
    address: str = Field(primary_key=True, max_length=320)
    contact_id: str = Field(primary_key=True, max_length=64, index=True)


class CursorRow(SQLModel, table=True):
    """One source's incremental position (a CRM account or a mailbox), plus its health."""

    __tablename__ = "cursors"
    source: str = Field(primary_key=True, max_length=400)   # "crm:hubspot", "mailbox:rep@example.com"
    data: str | None = Field(default=None, sa_column=Column(Text))  # adapter's cursor JSON
    updated_at: datetime = Field(default_factory=utcnow)
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    resyncs: int = 0
    last_resync_reason: str | None = Field(default=None, max_length=400)
    budget: str | None = Field(default=None, max_length=200)       # "api-usage 50/100000" as last reported
    # CRM sources: False from a contact pull that stopped part way (paused at the daily reserve) until one that
    # reads to the end; mail from unknown senders is deferred meanwhile (sync/mailboxes/deferred.py). None: never said.
    caught_up: bool | None = None


class MessageRow(SQLModel, table=True):
    """A message seen in a mailbox and what was decided about it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "provider_id", name="uq_messages_mailbox_provider_id"),
        Index("ix_messages_message_id", "message_id"),
        Index("ix_messages_thread_ref", "mailbox", "thread_ref"),
    )
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=320)
    provider_id: str = Field(max_length=400)
    folder: str = Field(max_length=16)
    message_id: str | None = Field(default=None, max_length=998)
    thread_ref: str | None = Field(default=None, max_length=400)
    from_address: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=998)
    sent_at: datetime | None = None
    classification: str = Field(max_length=16)                 # reply | message | auto_reply | bounce | bulk | malformed
    decision: str = Field(max_length=16)                        # logged | skipped | quarantined
    reason: str = Field(default="", max_length=400)
    contact_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list (any length)
    reply_text: str | None = Field(default=None, sa_column=Column(Text))
    seen_at: datetime = Field(default_factory=utcnow)


class OutboxRow(SQLModel, table=True):
    """An intended external effect. `key` is deterministic, so intending twice records it once."""

    __tablename__ = "outbox"
    # kind + created_at: the sequence scheduler counts each mailbox's sends of the day without a scan
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),
                      Index("ix_outbox_kind_created", "kind", "created_at"))
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)       # log_email | update_contact | set_fields | create_task | send_email
    contact_id: str = Field(max_length=64, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    status: str = Field(default="pending", max_length=16)  # pending | in_flight | done | failed | cancelled
    attempts: int = 0
    remote_id: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = None
    first_attempt_at: datetime | None = None   # the first provider attempt's outcome: the give-up horizon starts


class SyncErrorRow(SQLModel, table=True):
    """Recent provider errors and skipped items, for `threadline status`."""

    __tablename__ = "sync_errors"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=400, index=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=64)
    message: str = Field(max_length=1000)


class EventRow(SQLModel, table=True):
    """Everything observed about contacts (rule input). The id is deterministic: storing twice is a no-op."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_contact_time", "contact_id", "occurred_at"),)
    seq: int | None = Field(default=None, primary_key=True)      # arrival order: the rule layer's cursor
    id: str = Field(max_length=64, unique=True)
    type: str = Field(max_length=100, index=True)
    contact_id: str = Field(max_length=64)
    occurred_at: datetime
    source: str = Field(max_length=400)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))   # JSON


class AuditRow(SQLModel, table=True):
    """Every CRM write the rule layer intends, with the rule that caused it."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    rule: str = Field(max_length=200, index=True)
    contact_id: str = Field(max_length=64, index=True)
    effect_key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)
    reason: str = Field(max_length=1000)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))   # JSON of the effect


class RuleStateRow(SQLModel, table=True):
    """Small named state of the rule layer (assignment pointers, the events cursor)."""

    __tablename__ = "rule_state"
    name: str = Field(primary_key=True, max_length=200)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class FoundMailboxRow(SQLModel, table=True):
    """A mailbox found from the CRM's owners (`mailbox_sources`), shared by every replica. A stopped one keeps
    its cursor (under its own source row) and resumes from it when its owner comes back."""

    __tablename__ = "found_mailboxes"
    address: str = Field(primary_key=True, max_length=320)
    kind: str = Field(max_length=16)                 # gmail | outlook
    source: str = Field(max_length=64)               # "mailbox_sources[0]"
    owner_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    reason: str = Field(default="", max_length=500)  # why it stopped
    updated_at: datetime = Field(default_factory=utcnow)


class CrmOwnerRow(SQLModel, table=True):
    """A CRM owner as the last owners pull saw them, so the status page can list the owners who have no
    mailbox yet. An owner the CRM no longer lists stays, inactive, with when it was last seen."""

    __tablename__ = "crm_owners"
    id: str = Field(primary_key=True, max_length=64)
    email: str | None = Field(default=None, max_length=320)   # lower-cased
    name: str = Field(default="", max_length=200)
    active: bool = True
    seen_at: datetime = Field(default_factory=utcnow)


class ConnectLinkRow(SQLModel, table=True):
    """A link that lets one rep connect (or disconnect) their own mailbox. Only a digest of the link's secret
    is stored; the OAuth flow's verifier lives sealed in the secrets table while the rep is at the provider."""

    __tablename__ = "connect_links"
    id: str = Field(primary_key=True, max_length=64)       # sha256 of the token in the URL
    address: str = Field(index=True, max_length=320)
    provider: str = Field(max_length=16)                   # gmail | outlook
    purpose: str = Field(default="connect", max_length=16)  # connect | disconnect
    aliases: str = Field(default="", max_length=2000)      # other addresses the rep may sign in as, comma-separated
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    state_digest: str | None = Field(default=None, index=True, max_length=64)  # sha256 of the OAuth state
    browser_digest: str | None = Field(default=None, max_length=64)  # sha256 of the cookie the consent started in
    used_at: datetime | None = None
    outcome: str = Field(default="", max_length=500)


class RuleDueRow(SQLModel, table=True):
    """When the rules' verdict on a contact changes next with no new event (a decay step, an SLA due time):
    the rules step re-evaluates exactly the contacts whose `due_at` has passed, with one indexed query."""

    __tablename__ = "rule_due"
    crm_id: str = Field(primary_key=True, max_length=64)
    due_at: datetime = Field(index=True)
    reason: str = Field(max_length=200)       # "decay", "sla", "rules changed", ...


class EnrollmentRow(SQLModel, table=True):
    """A contact's place in a sequence (one row per enrolment generation)."""

    __tablename__ = "enrollments"
    # The primary key leads with the sequence: reads by contact (the runner, the report) need their own index.
    __table_args__ = (Index("ix_enrollments_contact_id", "contact_id"),)
    sequence: str = Field(primary_key=True, max_length=200)
    contact_id: str = Field(primary_key=True, max_length=64)
    generation: int = Field(default=0, primary_key=True)
    status: str = Field(max_length=16, index=True)              # active | paused | exited | completed
    step: int = 0                                               # index of the next step
    enrolled_at: datetime
    last_step_at: datetime | None = None
    paused_until: datetime | None = None
    exit_reason: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)
    # When the scheduler must look at this enrollment again (None: a step is in the outbox, or it is over).
    next_due_at: datetime | None = Field(default=None, index=True)
    mailbox: str | None = Field(default=None, max_length=320)  # the mailbox its email goes from
    variants: str | None = Field(default=None, sa_column=Column(Text))   # JSON {"<step index>": "<A/B variant>"}


class WorkLeaseRow(SQLModel, table=True):
    """A unit of work replicas share (a CRM pull, a mailbox, a singleton step): who holds it and when it is due."""

    __tablename__ = "work_leases"
    unit: str = Field(primary_key=True, max_length=400)         # "crm:hubspot", "mailbox:rep@x.com", "rules"
    owner: str | None = Field(default=None, max_length=200)     # the replica holding it, None when free
    lease_until: datetime | None = None                         # the holder must renew before this
    next_due_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class DeferredMailRow(SQLModel, table=True):
    """A message from no known contact, kept (slimmed to its headers and text) to be decided again: read while the
    contact mirror was still being filled (a backfill paused at the daily reserve), or a stranger's message in a
    thread whose known message had not been read yet."""

    __tablename__ = "deferred_mail"
    __table_args__ = (UniqueConstraint("mailbox", "provider_id", name="uq_deferred_mail_mailbox_provider_id"),
                      Index("ix_deferred_mail_thread", "mailbox", "kind", "thread_ref"))
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=320)
    provider_id: str = Field(max_length=400)
    folder: str = Field(max_length=16)
    # "mirror": waits for the contact pull to catch up; "thread": from a stranger in a thread no contact is known in
    # yet, waits for the thread to become known (read order must not decide what is logged).
    kind: str = Field(default="mirror", max_length=16)
    thread_ref: str | None = Field(default=None, max_length=400)       # the MessageRow's thread_ref ("thread" rows)
    thread_id: str | None = Field(default=None, max_length=400)
    internal_date: datetime | None = None
    owner_id: str | None = Field(default=None, max_length=64)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))     # zlib-compressed, attachments removed
    deferred_at: datetime = Field(default_factory=utcnow)


class SourceHoldRow(SQLModel, table=True):
    """A source whose writes wait until `held_until` (a long throttle such as HubSpot's DAILY 429), for every
    replica: performers skip its rows until then instead of holding a thread and a lease for an hour."""

    __tablename__ = "source_holds"
    source: str = Field(primary_key=True, max_length=400)      # "crm:hubspot", "mailbox:rep@x.com"
    held_until: datetime
    reason: str = Field(max_length=1000)
    set_by: str = Field(max_length=200)                         # the replica that met the throttle
    set_at: datetime = Field(default_factory=utcnow)


class SecretRow(SQLModel, table=True):
    """A secret (a token or a token cache) encrypted at rest; `key_id` names the key that sealed it."""

    __tablename__ = "secrets"
    name: str = Field(primary_key=True, max_length=400)        # "gmail/rep@x.com/access-token"
    key_id: str = Field(max_length=32, index=True)              # the sealing key's fingerprint, never the key
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))   # Fernet token
    updated_at: datetime = Field(default_factory=utcnow)


class CreatedContactRow(SQLModel, table=True):
    """A person sync.create_contacts made a CRM record for (or found already there when it looked), once per
    address across mailboxes and replicas: `key` is the create intent's key, a digest of the address."""

    __tablename__ = "created_contacts"
    key: str = Field(primary_key=True, max_length=128)
    crm_id: str = Field(max_length=64, index=True)
    object_type: str = Field(max_length=16)                     # "contact" | "lead"
    created: bool                                               # False: the CRM had the address already
    mode: str = Field(max_length=16)                            # the sync.create_contacts mode that asked for it
    mailbox: str = Field(max_length=320)                        # where the mail that asked for it came in
    at: datetime = Field(default_factory=utcnow, index=True)
