"""One sync cycle: schema check, contact mirror, every mailbox, rules, sends, then the outbox.

Every source is a leased work unit (`sync/work/leases.py`): a cycle claims the CRM pull and the
mailboxes one at a time (on several workers at once: sync/mailboxes/workers.py), so replicas
sharing a PostgreSQL store split them as they go, and
the rule and sequence steps run on whichever replica holds their unit. SQLite takes the
same path with a single replica. Never imports a concrete adapter."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlmodel import Session

from threadline.adapters.daily_budget import budget_meter
from threadline.adapters.errors import PermanentError, ProviderError
from threadline.adapters.protocols import CrmAdapter, MailboxAdapter
from threadline.adapters.records import CheckResult, CrmOwner
from threadline.adapters.sending import MailSender
from threadline.sync.contacts.create_policy import ContactCreation
from threadline.sync.contacts.crm_observations import observe_meetings, observe_tasks
from threadline.sync.contacts.pull import ContactSummary, sync_contacts
from threadline.sync.contacts.reserve import DailyReserve
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.contact_waits import purge_contact_waits
from threadline.sync.mailboxes.deferred import any_deferred, purge_thread_waits
from threadline.sync.mailboxes.guard import GuardedSender, MailboxGuards
from threadline.sync.mailboxes.ingest import MailboxSummary, MailboxSync
from threadline.sync.mailboxes.labels import LabelRule
from threadline.sync.mailboxes.workers import UnitQueue, run_workers
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.crm_writes import OutboxExecutor, OutboxSummary
from threadline.sync.outbox.retry_policy import RetryPolicy
from threadline.sync.outbox.sends import SendCheck, SendExecutor, SendSummary
from threadline.sync.store.database import Store
from threadline.sync.store.retention import purge_expired
from threadline.sync.store.tables import CursorRow, utcnow
from threadline.sync.work.cursors import mark_success, mirror_behind, record_budget, record_provider_error
from threadline.sync.work.leases import LeaseBook, LeaseLost, replica_id

log = structlog.get_logger("threadline.engine")
Progress = Callable[[str], None]
CRM_SOURCE = "crm"
RULES_UNIT = "rules"
SEQUENCES_UNIT = "sequences"
REFRESH_WAIT = 10.0     # seconds a send waits for another replica to finish pulling its mailbox
CYCLE_PULL_SECONDS = 5.0   # a daemon cycle claims mailboxes for this long, then runs rules and sequences


def mailbox_source(address: str) -> str:
    """The name push notifications and the scheduler use for one mailbox."""
    return f"mailbox:{address}"


@dataclass(frozen=True)
class MailboxBinding:
    """A mailbox adapter, the CRM owner it belongs to, and how sequence email is sent from it (if it can be)."""

    adapter: MailboxAdapter
    owner_id: str | None = None
    sender: MailSender | None = None
    labels: LabelRule | None = None          # sync.only_labelled / never_labelled for this mailbox


class MailboxDirectory(Protocol):
    """Where the mailboxes found from the CRM's owners come from (the wiring builds their adapters)."""

    def owners_seen(self, owners: Sequence[CrmOwner]) -> None:
        """Record which mailboxes the CRM's owners call for now (the replica pulling the CRM calls this)."""
        ...

    def changes(self, current: set[str]) -> tuple[list[MailboxBinding], set[str]]:
        """Bindings for found mailboxes this replica does not have yet, and addresses it should let go. A
        mailbox whose owner or tokens changed is in both: let go of the old binding, take the new one."""
        ...


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
    """Runs sync cycles for one CRM and its mailboxes over one store, as one replica (`owner`).

    `poll_interval` (and `crm_poll_interval` for the CRM) is how long a pulled source rests
    before it is due again; `lease_time` how long a unit or outbox row stays this replica's
    without renewal. `mailbox_concurrency` mailboxes are pulled at once, each under its own
    lease. Setting `stopping` makes a cycle stop taking new work: the page or row in hand is
    finished and committed, everything else is left for the next holder.
    """

    def __init__(self, store: Store, crm: CrmAdapter, mailboxes: Sequence[MailboxBinding], policy: AddressPolicy,
                 *, property_names: dict[str, str], snippet_chars: int = 200,
                 retention: timedelta = timedelta(days=365), unsubscribe_field: str | None = None,
                 rules_step: Callable[[], Any] | None = None, sequence_step: Callable[[], Any] | None = None,
                 send_check: SendCheck | None = None,
                 rule_fields: Sequence[tuple[str, str]] = (), poll_interval: timedelta = timedelta(seconds=60),
                 crm_poll_interval: timedelta | None = None, lease_time: timedelta = timedelta(minutes=2),
                 retry: RetryPolicy | None = None,
                 owner: str | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 directory: MailboxDirectory | None = None, mailbox_concurrency: int = 16,
                 daily_reserve: float = 0.10, contact_creation: ContactCreation | None = None) -> None:
        self.store = store
        self.crm = crm
        self.mailboxes = list(mailboxes)
        self.policy = policy
        self.owner = owner or replica_id()
        self.stopping = threading.Event()
        self.poll_interval = poll_interval
        self.mailbox_concurrency = max(1, mailbox_concurrency)     # mailboxes pulled at once (sync.mailbox_concurrency)
        self.crm_poll_interval = crm_poll_interval or poll_interval
        self.daily_reserve = daily_reserve     # share of the CRM's daily API budget the contact pull leaves alone
        self.contact_creation = contact_creation     # sync.create_contacts (None: never)
        self.leases = LeaseBook(store, self.owner, lease_time)
        self.executor = OutboxExecutor(store, crm, property_names=property_names, snippet_chars=snippet_chars,
                                       owner=self.owner, lease=lease_time, stopping=self.stopping, retry=retry)
        self._schema_ok = False
        self._schema_unchecked = False     # the last schema check could not reach the CRM (see write_crm)
        self.schema_checked = threading.Event()    # a check ran (or was not needed): the outbox may be written
        self.on_intent: Callable[[], None] | None = None   # the daemon's drainers' wakeup
        self.retention = retention
        self.unsubscribe_field = unsubscribe_field
        # The rule layer sits above the engine: it is handed in as a step run after ingest.
        self.rules_step = rules_step
        self.clock = clock
        self.sequence_step = sequence_step        # the sequence runner: intends sends and tasks
        self.rule_fields = list(rule_fields)      # contact fields the rules write (score, tier): ensured at start
        # The daemon sends on a thread of its own: a send and a pull of one mailbox share its adapter.
        self.mailbox_guards = MailboxGuards()
        senders: dict[str, MailSender] = {
            b.adapter.address: GuardedSender(b.sender, self.mailbox_guards.lock(b.adapter.address))
            for b in self.mailboxes if b.sender is not None}
        if senders and send_check is None:
            raise ValueError("mailboxes that send sequence email need a send_check (the sequences' stop rules)")
        self.sender = SendExecutor(store, senders, self.refresh, send_check=send_check,
                                   mailbox_owners={b.adapter.address: b.owner_id for b in self.mailboxes},
                                   owner=self.owner, lease=lease_time, stopping=self.stopping, retry=retry
                                   ) if send_check is not None and (senders or directory is not None) else None
        self.directory = directory       # mailboxes found from the CRM's owners (mailbox_sources)

    @property
    def crm_unit(self) -> str:
        return f"{CRM_SOURCE}:{self.crm.name}"

    def units(self) -> list[str]:
        """The source units this replica can pull: the CRM, then every mailbox."""
        return [self.crm_unit, *(mailbox_source(b.adapter.address) for b in self.mailboxes)]

    def run_once(self, progress: Progress | None = None, only: set[str] | None = None, *,
                 due_only: bool = False, drain: bool = True) -> SyncSummary:
        """One cycle. Provider errors are recorded per source and the cycle goes on with the rest.

        `only` limits the pulls to some sources ("crm", "mailbox:<address>"). By default every
        source is pulled once (`threadline sync --once`); `due_only` (the daemon) pulls only the
        sources whose rest is over or that a push marked due, for at most CYCLE_PULL_SECONDS.
        Either way a source another replica holds is skipped. With `drain` (the default) the
        sends and the outbox are drained at the end; the daemon passes False and drains them on
        threads of their own (`send_due`, `write_crm`). Cursors decide what is read, so pulling a
        source that has nothing new costs one cheap call.
        """
        say = progress or (lambda _message: None)
        summary = SyncSummary()
        self.refresh_found_mailboxes()
        self.leases.ensure(self.units())
        if not self._schema_ok and not self.stopping.is_set():
            say("checking CRM properties")
            summary.schema = self._ensure_schema()
        if not self.stopping.is_set():
            self.schema_checked.set()
        if (only is None or CRM_SOURCE in only or self.crm_unit in only) and not self.stopping.is_set():
            self._pull_crm(summary, due_only, say)
        self._pull_mailboxes(summary, only, due_only, say)
        self._run_singletons(summary, say)
        if drain:
            say("sending sequence email")
            summary.sending = self.send_due()
            say("writing to the CRM")
            written = self.write_crm()
            if written is None:
                return summary
            summary.outbox = written
        if self.stopping.is_set():
            return summary
        self.store.refresh_statistics(utcnow())     # SQLite's planner statistics, hourly (the store grows)
        with self.store.session() as session:
            summary.purged = purge_expired(session, self.retention, self.clock()) + purge_thread_waits(session, utcnow())
            summary.purged += purge_contact_waits(session, utcnow())
            meter = budget_meter(self.crm)
            budget = meter.current() if meter else None
            if budget is not None:     # as the CRM's answers last stated it (replies logged since included)
                record_budget(session, self.crm_unit, budget, budget.reserve(self.daily_reserve))
        # sent/logged only where this cycle drained: in the daemon the drainers do that work and log each row.
        drained = {"sent": summary.sending.sent, "logged": summary.outbox.performed.get("log_email", 0)} if drain else {}
        log.info("sync.cycle", contacts=summary.contacts.pulled, pulled=summary.pulled, matched=summary.matched,
                 errors=len(summary.errors), **drained)
        return summary

    # -- draining (sends, then the CRM outbox) ------------------------------------------------------
    def send_due(self) -> SendSummary:
        """Send the sequence email that is due (nothing without a sender, or once stopping)."""
        if self.sender is None or self.stopping.is_set():
            return SendSummary()
        return self.sender.run()

    def write_crm(self, settle_seconds: float = 20.0) -> OutboxSummary | None:
        """Perform the due CRM outbox rows (see OutboxExecutor.run). None when they must wait: stopping, the
        CRM's properties not checked yet, or the last check could not reach the CRM."""
        if self.stopping.is_set() or not self.schema_checked.is_set():
            return None
        if self._schema_unchecked:
            # The CRM's properties could not be checked (throttled, down, refused): a contact update written now
            # would fail for good on a property not created yet (found by the 429-storm fault test), so
            # the outbox waits, untouched, for a cycle whose check gets through.
            log.warning("outbox.deferred", reason="CRM properties not checked yet")
            return None
        summary = self.executor.run(settle_seconds)
        if self._settle_contact_waits() and not self.stopping.is_set():
            # Mail that waited for a contact created just now is intended now: written in this drain too.
            _add_to(summary, self.executor.run(settle_seconds))
        return summary

    def _intended(self) -> None:
        """Something may have been intended (a pull matched mail, rules or sequences ran): tell the drainers."""
        if self.on_intent is not None:
            self.on_intent()

    # -- sources ------------------------------------------------------------------------------------
    def _pull_crm(self, summary: SyncSummary, due_only: bool, say: Progress) -> None:
        unit = self.crm_unit
        if not self.leases.claim([unit], force=not due_only):
            return
        say("pulling contact changes")
        next_due = None
        try:
            meter = budget_meter(self.crm)
            reserve = DailyReserve(meter, self.daily_reserve, self.clock, unit) if meter else None
            summary.contacts = sync_contacts(self.store, self.crm, self.policy, unsubscribe_field=self.unsubscribe_field,
                                             fence=lambda session: self.leases.fence(session, unit), reserve=reserve,
                                             stopping=self.stopping)
            self._redecide_deferred()
            self._settle_contact_waits(fence=lambda session: self.leases.fence(session, unit))
            if self.directory is not None:
                self._read_owners(unit)
        except LeaseLost:
            log.warning("crm.lease_lost", unit=unit)
            next_due = utcnow()
        finally:
            self.leases.release(unit, next_due or utcnow() + self.crm_poll_interval)

    def _mailbox_sync(self) -> MailboxSync:
        """The ingest, deferring mail from unknown senders while the contact mirror is behind (deferred.py)."""
        return MailboxSync(self.store, self.policy, crm_source=self.crm_unit, creation=self.contact_creation)

    def _settle_contact_waits(self, *, fence: Callable[[Session], None] | None = None) -> int:
        """Decide again the mail that waits for a contact the mirror has now (sync.create_contacts: created by the
        outbox, or brought by a contact pull). Any replica may run it (after its CRM writes, and after a contact
        pull, fenced by the CRM lease there): each wait is taken by one DELETE, so no two take the same message."""
        settled = self._mailbox_sync().settle_contact_waits(fence=fence)
        if settled:
            log.info("mail.contact_waits_settled", messages=settled)
            self._intended()
        return settled

    def _redecide_deferred(self) -> None:
        """Once a contact pull has read to the end, decide again the mail deferred while it was behind. Runs on
        the replica holding the CRM pull, right after it, so one replica does it at a time."""
        with self.store.session() as session:
            if mirror_behind(session, self.crm_unit) or not any_deferred(session):
                return
        unit = self.crm_unit
        self._mailbox_sync().redecide_deferred(fence=lambda session: self.leases.fence(session, unit))
        self._intended()

    def _read_owners(self, unit: str) -> None:
        """With mailbox_sources: the CRM's owners decide which mailboxes the team has (on every CRM pull)."""
        assert self.directory is not None
        try:
            owners = self.crm.list_owners()
        except ProviderError as exc:
            with self.store.session() as session:
                record_provider_error(session, unit, exc)
            return
        self.directory.owners_seen(owners)
        self.refresh_found_mailboxes()

    def refresh_found_mailboxes(self) -> None:
        """Take on the mailboxes found from the CRM's owners or connected since the last cycle, rebuild those whose
        owner or tokens changed, and let go of the stopped ones (their cursors stay in the store). A no-op
        without a directory (no mailbox_sources, no connect links)."""
        if self.directory is None:
            return
        added, dropped = self.directory.changes({b.adapter.address for b in self.mailboxes})
        for binding in [b for b in self.mailboxes if b.adapter.address in dropped]:
            self.mailboxes.remove(binding)
            if self.sender is not None:
                self.sender.senders.pop(binding.adapter.address, None)
            with self.mailbox_guards.lock(binding.adapter.address):
                binding.adapter.close()
            log.info("mailbox.stopped", mailbox=binding.adapter.address, reason="its owner or connection changed")
        for binding in added:
            self.mailboxes.append(binding)
            if self.sender is not None:
                self.sender.mailbox_owners[binding.adapter.address] = binding.owner_id
                if binding.sender is not None:
                    self.sender.senders[binding.adapter.address] = GuardedSender(
                        binding.sender, self.mailbox_guards.lock(binding.adapter.address))
            log.info("mailbox.found", mailbox=binding.adapter.address, owner_id=binding.owner_id)

    def _pull_mailboxes(self, summary: SyncSummary, only: set[str] | None, due_only: bool, say: Progress) -> None:
        """Claim mailboxes one at a time on each of `mailbox_concurrency` workers until none is left, so
        replicas share them out as they go and this one pulls several at once.

        A mailbox a push marked due while it was being pulled is pulled once more (due_only)."""
        bindings = {mailbox_source(b.adapter.address): b for b in self.mailboxes}
        wanted = [u for u in bindings if only is None or u in only]
        if wanted and not self._wait_for_first_contacts():
            # Mail read against an empty contact mirror is skipped for good (its cursor moves on): until
            # one CRM pull has succeeded, the mailboxes wait (found by the fault suite: a refused first
            # CRM pull lost every reply of the backfill).
            log.warning("mailbox.deferred", reason="no successful CRM pull yet")
            return
        if not wanted:
            return
        pulls: Counter[str] = Counter()
        most = 2 if due_only else 1
        ingest = self._mailbox_sync()
        # The daemon stops claiming after CYCLE_PULL_SECONDS, so rules and sequences run between pulls even
        # while a backlog of due mailboxes lasts longer than a poll interval (the next cycle starts at once).
        until = time.monotonic() + CYCLE_PULL_SECONDS if due_only else float("inf")
        books = threading.Lock()        # `pulls` and `summary.mailboxes` are shared by the workers
        workers = min(self.mailbox_concurrency, len(wanted))

        def claim(limit: int) -> list[str]:
            with books:
                candidates = [u for u in wanted if pulls[u] < most]
                claimed = self.leases.claim(candidates, limit=limit, force=not due_only) if candidates else []
                pulls.update(claimed)
            return claimed

        queue = UnitQueue(claim, self.leases.release_many, self.leases.renew, batch=workers,
                          stale_after=self.leases.lease.total_seconds() / 4)

        def take_one() -> bool:
            unit = queue.next() if time.monotonic() < until else None
            if unit is None:
                return False
            binding = bindings[unit]
            say(f"reading {binding.adapter.kind} mailbox {binding.adapter.address}")
            pulled = self._pull_mailbox(ingest, binding, unit, queue.finished)
            with books:
                summary.mailboxes.append(pulled)
            if pulled.intended:
                self._intended()
            return True

        try:
            run_workers(workers, take_one, self.stopping)
        finally:
            queue.close(utcnow())

    def _pull_mailbox(self, ingest: MailboxSync, binding: MailboxBinding, unit: str,
                      hand_back: Callable[[str, datetime, Callable[[Session], None] | None], None] | None = None
                      ) -> MailboxSummary:
        """Pull a claimed mailbox, then release it: due again after the poll interval, or now if cut short.
        A pull that got to the end records its success in the release's transaction (one write, not two).
        `hand_back` releases it with others in one batch (the workers' queue) instead of at once."""
        result: MailboxSummary | None = None
        try:
            with self.mailbox_guards.lock(binding.adapter.address):
                result = ingest.run(binding.adapter, binding.owner_id, stopping=self.stopping, record_success=False,
                                    fence=lambda session: self.leases.fence(session, unit), labels=binding.labels)
            return result
        finally:
            rest = timedelta(0) if result is not None and result.cut_short else self.poll_interval
            done = result is not None and result.succeeded
            success = (lambda session: mark_success(session, unit)) if done else None
            (hand_back or (lambda u, due, also: self.leases.release(u, due, also=also)))(unit, utcnow() + rest, success)

    def _wait_for_first_contacts(self) -> bool:
        """On a fresh store, mail matched against an empty contact mirror would be skipped for good: while
        another replica runs the first CRM pull, wait for it (at most a lease time). True once a CRM pull
        has succeeded."""
        deadline = time.monotonic() + self.leases.lease.total_seconds()
        while True:
            with self.store.session() as session:
                cursor = session.get(CursorRow, self.crm_unit)
            if cursor is not None and cursor.last_success_at is not None:
                return True
            if (self.stopping.is_set() or time.monotonic() >= deadline
                    or self.leases.holder(self.crm_unit) in (None, self.owner)):
                return False
            self.stopping.wait(0.25)

    def _run_singletons(self, summary: SyncSummary, say: Progress) -> None:
        """Rules and sequences run on one replica at a time: whichever holds their unit this cycle."""
        steps = {RULES_UNIT: self.rules_step, SEQUENCES_UNIT: self.sequence_step}
        units = [u for u, step in steps.items() if step is not None]
        if not units or self.stopping.is_set():
            return
        held = self.leases.claim(units, limit=len(units), force=True)
        if not held:
            return
        try:
            say("reading meetings and follow-up tasks")
            observe_meetings(self.store, self.crm)
            observe_tasks(self.store, self.crm, self.clock())
            # (`held` only names units whose step is configured; the None checks say so to the type checker)
            if RULES_UNIT in held and self.rules_step is not None and self.leases.renew(RULES_UNIT):
                say("evaluating rules")
                summary.rules = self.rules_step()
            if SEQUENCES_UNIT in held and self.sequence_step is not None and self.leases.renew(SEQUENCES_UNIT):
                say("scheduling sequence steps")
                summary.sequences = self.sequence_step()
        finally:
            for unit in held:
                self.leases.release(unit, utcnow())
            self._intended()

    def refresh(self, address: str) -> None:
        """Ingest one mailbox's new mail now (right before a send from it): a reply becomes an event in time.

        Waits up to REFRESH_WAIT for a replica pulling it to finish; if it does not, that replica
        is reading the mailbox right now and the send goes ahead on what the store knows."""
        unit = mailbox_source(address)
        binding = next((b for b in self.mailboxes if b.adapter.address == address), None)
        if binding is None:
            return
        deadline = time.monotonic() + REFRESH_WAIT
        while not self.leases.claim([unit], force=True):
            if self.leases.holder(unit) == self.owner and self._refresh_held(binding, unit, deadline):
                return
            if time.monotonic() > deadline or self.stopping.wait(0.2):
                log.info("mailbox.refresh_skipped", mailbox=address, reason="pulled by another replica")
                return
        self._pull_mailbox(self._mailbox_sync(), binding, unit)

    def _refresh_held(self, binding: MailboxBinding, unit: str, deadline: float) -> bool:
        """Refresh a mailbox this replica holds: its workers claim mailboxes a batch at a time, so it may be
        waiting in their queue, not being read (found in review: a reply sitting there let a follow-up go out).
        Reads it under its guard, fenced by the lease the queue holds and will release; False when a worker is
        reading it right now and does not finish before `deadline`."""
        guard = self.mailbox_guards.lock(binding.adapter.address)
        if not guard.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            self._mailbox_sync().run(binding.adapter, binding.owner_id, stopping=self.stopping, record_success=False,
                                     fence=lambda session: self.leases.fence(session, unit))
        finally:
            guard.release()
        return True

    # -- the daemon's view ---------------------------------------------------------------------------
    def mark_due(self, source: str) -> None:
        """A push asked for `source` ("crm" or "mailbox:<address>"): due now, for whichever replica is free."""
        self.leases.mark_due(self.crm_unit if source == CRM_SOURCE else source)

    def seconds_until_due(self) -> float | None:
        """How long until some source of this replica can be claimed (due, or its holder's lease ran out)."""
        at = self.leases.next_claimable(self.units())
        return None if at is None else max(0.0, (at - utcnow()).total_seconds())

    def release_leases(self) -> int:
        """Shutdown: give up every unit held, and end the leases of any outbox row still in flight here."""
        released = self.leases.release_all()
        with self.store.session() as session:
            rows = outbox.expire_leases(session, self.owner)
        if released or rows:
            log.info("leases.released", units=released, outbox_rows=rows)
        return released + rows

    def _ensure_schema(self) -> list[CheckResult]:
        try:
            results = self.crm.ensure_schema()
            if self.rule_fields:
                results += self.crm.rule_fields_schema(self.rule_fields)
            self._schema_ok = all(r.ok for r in results)
            self._schema_unchecked = False
            return results
        except ProviderError as exc:
            self._schema_unchecked = not isinstance(exc, PermanentError)   # throttled, down, refused
            with self.store.session() as session:
                record_provider_error(session, f"crm:{self.crm.name}", exc)
            return [CheckResult(target=self.crm.name, item="properties", ok=False, detail=str(exc))]

    def close(self) -> None:
        """Release every provider connection: the mailboxes' and the CRM's."""
        for binding in self.mailboxes:
            binding.adapter.close()
        self.crm.close()


def _add_to(summary: OutboxSummary, more: OutboxSummary) -> None:
    """Count a second executor run of one drain in the first's summary."""
    summary.performed.update(more.performed)
    summary.reconciled += more.reconciled
    summary.retried += more.retried
    summary.failed += more.failed
    summary.errors += more.errors
