"""One sync cycle: schema check, contact mirror, every mailbox, rules, sends, then the outbox.

Never imports a concrete adapter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import CrmAdapter, MailboxAdapter
from threadline.adapters.records import CheckResult
from threadline.adapters.sending import MailSender
from threadline.sync.contact_sync import ContactSummary, sync_contacts
from threadline.sync.crm_observations import observe_meetings, observe_tasks
from threadline.sync.cursors import record_budget, record_provider_error
from threadline.sync.mailbox_sync import MailboxSummary, MailboxSync
from threadline.sync.matching import AddressPolicy
from threadline.sync.outbox_executor import OutboxExecutor, OutboxSummary
from threadline.sync.retention import purge_expired
from threadline.sync.send_executor import SendExecutor, SendSummary
from threadline.sync.store.database import Store

log = structlog.get_logger("threadline.engine")
Progress = Callable[[str], None]
CRM_SOURCE = "crm"


def mailbox_source(address: str) -> str:
    """The name push notifications and the scheduler use for one mailbox."""
    return f"mailbox:{address}"


@dataclass(frozen=True)
class MailboxBinding:
    """A mailbox adapter, the CRM owner it belongs to, and how sequence email is sent from it (if it can be)."""

    adapter: MailboxAdapter
    owner_id: str | None = None
    sender: MailSender | None = None


@dataclass
class SyncSummary:
    """What one cycle did: `threadline sync --once` prints this."""

    contacts: ContactSummary = field(default_factory=ContactSummary)
    mailboxes: list[MailboxSummary] = field(default_factory=list)
    outbox: OutboxSummary = field(default_factory=OutboxSummary)
    schema: list[CheckResult] = field(default_factory=list)
    purged: int = 0
    rules: Any = None
    sequences: Any = None
    sending: SendSummary = field(default_factory=SendSummary)

    @property
    def pulled(self) -> int:
        return sum(m.pulled for m in self.mailboxes)

    @property
    def matched(self) -> int:
        return sum(m.matched for m in self.mailboxes)

    @property
    def skipped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for m in self.mailboxes:
            total.update(m.skipped)
        return total

    @property
    def errors(self) -> list[str]:
        found = [f"crm: {self.contacts.error}"] if self.contacts.error else []
        found += [f"{m.mailbox}: {m.error}" for m in self.mailboxes if m.error]
        found += [f"send: {e}" for e in self.sending.errors]
        return found + [f"outbox: {e}" for e in self.outbox.errors]


class SyncEngine:
    """Runs sync cycles for one CRM and its mailboxes over one store."""

    def __init__(self, store: Store, crm: CrmAdapter, mailboxes: Sequence[MailboxBinding], policy: AddressPolicy,
                 *, property_names: dict[str, str], snippet_chars: int = 200,
                 retention: timedelta = timedelta(days=365), unsubscribe_field: str | None = None,
                 rules_step: Callable[[], Any] | None = None, sequence_step: Callable[[], Any] | None = None,
                 rule_fields: Sequence[tuple[str, str]] = ()) -> None:
        self.store = store
        self.crm = crm
        self.mailboxes = list(mailboxes)
        self.policy = policy
        self.executor = OutboxExecutor(store, crm, property_names=property_names, snippet_chars=snippet_chars)
        self._schema_ok = False
        self.retention = retention
        self.unsubscribe_field = unsubscribe_field
        # The rule layer sits above the engine: it is handed in as a step run after ingest.
        self.rules_step = rules_step
        self.sequence_step = sequence_step        # the sequence runner: intends sends and tasks
        self.rule_fields = list(rule_fields)      # contact fields the rules write (score, tier): ensured at start
        senders = {b.adapter.address: b.sender for b in self.mailboxes if b.sender is not None}
        self.sender = SendExecutor(store, senders, self.refresh,
                                   mailbox_owners={b.adapter.address: b.owner_id for b in self.mailboxes}
                                   ) if senders else None

    def run_once(self, progress: Progress | None = None, only: set[str] | None = None) -> SyncSummary:
        """One cycle. Provider errors are recorded per source and the cycle goes on with the rest.

        `only` limits the pulls to some sources ("crm", "mailbox:<address>"), as a push
        notification asks; the outbox is always drained. Cursors decide what is read, so
        pulling a source that has nothing new costs one cheap call.
        """
        say = progress or (lambda _message: None)
        summary = SyncSummary()
        if not self._schema_ok:
            say("checking CRM properties")
            summary.schema = self._ensure_schema()
        if only is None or CRM_SOURCE in only:
            say("pulling contact changes")
            summary.contacts = sync_contacts(self.store, self.crm, self.policy,
                                             unsubscribe_field=self.unsubscribe_field)
        ingest = MailboxSync(self.store, self.policy)
        for binding in self.mailboxes:
            if only is not None and mailbox_source(binding.adapter.address) not in only:
                continue
            say(f"reading {binding.adapter.kind} mailbox {binding.adapter.address}")
            summary.mailboxes.append(ingest.run(binding.adapter, binding.owner_id))
        if self.rules_step is not None or self.sequence_step is not None:
            say("reading meetings and follow-up tasks")
            observe_meetings(self.store, self.crm)
            observe_tasks(self.store, self.crm, datetime.now(UTC))
        if self.rules_step is not None:
            say("evaluating rules")
            summary.rules = self.rules_step()
        if self.sequence_step is not None:
            say("scheduling sequence steps")
            summary.sequences = self.sequence_step()
        if self.sender is not None:
            say("sending sequence email")
            summary.sending = self.sender.run()
        say("writing to the CRM")
        summary.outbox = self.executor.run()
        with self.store.session() as session:
            summary.purged = purge_expired(session, self.retention)
            usage = getattr(self.crm, "api_usage", None)     # Salesforce: Sforce-Limit-Info
            if usage:
                record_budget(session, f"{CRM_SOURCE}:{self.crm.name}", *usage)
        log.info("sync.cycle", contacts=summary.contacts.pulled, pulled=summary.pulled, matched=summary.matched,
                 sent=summary.sending.sent, logged=summary.outbox.performed.get("log_email", 0),
                 errors=len(summary.errors))
        return summary

    def refresh(self, address: str) -> None:
        """Ingest one mailbox's new mail now (right before a send from it): a reply becomes an event in time."""
        for binding in self.mailboxes:
            if binding.adapter.address == address:
                MailboxSync(self.store, self.policy).run(binding.adapter, binding.owner_id)

    def _ensure_schema(self) -> list[CheckResult]:
        try:
            results = self.crm.ensure_schema()
            if self.rule_fields:
                results += self.crm.rule_fields_schema(self.rule_fields)
            self._schema_ok = all(r.ok for r in results)
            return results
        except ProviderError as exc:
            with self.store.session() as session:
                record_provider_error(session, f"crm:{self.crm.name}", exc)
            return [CheckResult(target=self.crm.name, item="properties", ok=False, detail=str(exc))]

    def close(self) -> None:
        for binding in self.mailboxes:
            binding.adapter.close()
