"""Ingest one mailbox: pull pages, decide per message, record intents, advance the cursor — atomically per page.

Each page is one transaction: the messages seen, the outbox intents they cause
and the cursor after them commit together. The page's messages are parsed and
classified before that transaction opens, so the store's write lock (SQLite has one)
is held for the page's decisions and rows only, not its CPU work: several mailbox
workers commit pages side by side. A crash before the commit re-reads
the page next time (at-least-once ingest); keys make processing idempotent.

A message that raises something unexpected (a bug, or data the store refuses)
must not stick the cursor: the page is rolled back and taken again message by
message, each in a savepoint, and the one that fails is quarantined with the
exception as its reason. If most of a page fails that way the fault is not in
the mail: the page is rolled back, the error recorded, and the cursor waits.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col, select

from threadline.adapters.errors import ProviderError
from threadline.adapters.protocols import MailboxAdapter
from threadline.adapters.records import EmailActivity, MailPage, RawMessage
from threadline.crashpoints import crashpoint, failpoint
from threadline.sync.contacts.create_policy import ContactCreation
from threadline.sync.contacts.mirror import contacts_for_address, surviving_contact
from threadline.sync.events.log import record_events
from threadline.sync.events.meetings import without_known_meetings
from threadline.sync.events.records import Event, event_id
from threadline.sync.mail.calendar_reply import read_calendar
from threadline.sync.mail.classify import Classification, classify
from threadline.sync.mail.matching import NO_CONTACT, AddressPolicy, Decision, decide
from threadline.sync.mail.message import MalformedMessage, ParsedMessage, parse_message
from threadline.sync.mail.reply_text import extract_reply
from threadline.sync.mailboxes.contact_creation import asks_for_contact
from threadline.sync.mailboxes.contact_waits import BATCH as CONTACT_BATCH
from threadline.sync.mailboxes.contact_waits import take_ready
from threadline.sync.mailboxes.deferred import THREAD, defer, redecide, take_thread_waits
from threadline.sync.mailboxes.labels import LabelRule, decide_labels, reconsider
from threadline.sync.mailboxes.meetings import meeting_decision, meeting_events
from threadline.sync.outbox.keys import log_email_key, message_identity, update_contact_key
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.privacy.suppression import any_forgotten, forgotten_among
from threadline.sync.store.database import Store
from threadline.sync.store.tables import MessageRow
from threadline.sync.work.cursors import (
    load_cursor,
    mark_success,
    mirror_behind,
    record_error,
    record_provider_error,
    save_cursor,
)
from threadline.sync.work.leases import LeaseLost

log = structlog.get_logger("threadline.mailbox")

#: The skip reason of mail from a person forgotten on request (threadline forget).
FORGOTTEN = "from a person forgotten on request (threadline forget)"

# Not a message's fault: lease, provider and store-connection errors end the pull as before.
NOT_THE_MESSAGE = (LeaseLost, ProviderError, OperationalError, InterfaceError)


class PageFailed(Exception):
    """Most of a page failed unexpectedly: a systemic fault, so nothing is quarantined and the cursor waits."""


@dataclass(frozen=True)
class Prepared:
    """One message parsed and classified outside the page's transaction, or what parsing it raised (raised
    again where the message is ingested, so a malformed or poison message is handled exactly as before)."""

    parsed: ParsedMessage | None = None
    classification: Classification | None = None
    failure: Exception | None = None

    def result(self) -> tuple[ParsedMessage, Classification]:
        if self.failure is not None:
            raise self.failure
        assert self.parsed is not None and self.classification is not None
        return self.parsed, self.classification


def prepare(raw: RawMessage) -> Prepared:
    """Parse and classify `raw` (pure CPU work, no store)."""
    try:
        failpoint("mailbox.message", raw.raw)
        parsed = parse_message(raw.raw)
        calendar = read_calendar(raw.raw, parsed.headers.get("content-type", "text/plain"))
        if calendar.problem:        # handled as mail; the reason has no customer text
            log.info("message.calendar_unreadable", provider_id=raw.provider_id, reason=calendar.problem)
        return Prepared(parsed, classify(parsed, calendar))
    except Exception as exc:  # noqa: BLE001 - raised again in the page's transaction, which handles it
        return Prepared(failure=exc)


@dataclass
class MailboxSummary:
    mailbox: str
    pulled: int = 0
    duplicates: int = 0
    matched: int = 0
    intended: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    resync_reason: str | None = None
    cut_short: bool = False        # stopped between pages (shutdown) or the lease was lost: more may be waiting
    succeeded: bool = False        # read to the end: the caller records the success if `run` was told not to
    # The thread refs and Message-IDs of the messages logged in the page in hand: strangers' messages waiting for
    # one of these threads are decided again at the end of the page (deferred.py).
    logged_threads: set[str] = field(default_factory=set)
    # Whether the parties of each message are checked against `threadline forget` (set per page: only when
    # anyone was forgotten; a message decided again outside a page is always checked).
    forgetting: bool = True

    def counts(self) -> tuple[int, int, int, int, Counter[str]]:
        """The counters, to put back when the work they counted is rolled back."""
        return self.pulled, self.duplicates, self.matched, self.intended, Counter(self.skipped)

    def restore(self, counts: tuple[int, int, int, int, Counter[str]]) -> None:
        self.pulled, self.duplicates, self.matched, self.intended, skipped = counts
        self.skipped = Counter(skipped)


class MailboxSync:
    """Runs the ingest for mailboxes against one store and one address policy."""

    def __init__(self, store: Store, policy: AddressPolicy, *, crm_source: str | None = None,
                 creation: ContactCreation | None = None) -> None:
        """With `crm_source`, mail from no known contact is deferred while that CRM's contact pull is behind
        (a backfill paused at the daily reserve; see deferred.py) instead of skipped for good. `creation`:
        sync.create_contacts (contact_creation.py); None creates nothing."""
        self.store = store
        self.policy = policy
        self.crm_source = crm_source
        self.creation = creation
        self.label_rules: dict[str, LabelRule] = {}     # mailbox -> its only/never_labelled (labels.py)

    def redecide_deferred(self, *, fence: Callable[[Session], None] | None = None) -> int:
        """Decide again the mail deferred while the mirror was behind (the engine calls this after a contact
        pull, with the CRM lease's `fence` run in each batch's transaction); returns how many were taken up.
        A message that fails unexpectedly is quarantined alone, as in a pull."""
        def one(session: Session, mailbox: str, owner_id: str | None, raw: RawMessage) -> None:
            summary = MailboxSummary(mailbox)
            self._ingest_guarded(session, mailbox, owner_id, raw, prepare(raw), summary, [], 1)
            self._settle_threads(session, mailbox, summary)
        return redecide(self.store, one, fence=fence)

    def run(self, mailbox: MailboxAdapter, owner_id: str | None = None, *,
            fence: Callable[[Session], None] | None = None, stopping: threading.Event | None = None,
            record_success: bool = True, labels: LabelRule | None = None) -> MailboxSummary:
        """Pull everything new in `mailbox`. Provider errors are recorded and returned, not raised.

        `fence(session)` runs in each page's transaction right before the cursor is saved and
        raises LeaseLost when this replica no longer holds the mailbox: the page is rolled back
        and the pull stops (the new holder reads it from the cursor). `stopping` ends the pull
        after the page in hand is committed. A pull read to the end sets `succeeded`; with
        `record_success` False the caller writes the success mark (the engine does it in the
        lease release's transaction). `labels`: the mailbox's opt-in/opt-out labels (labels.py).
        """
        if labels:
            self.label_rules[mailbox.address] = labels
        source = f"mailbox:{mailbox.address}"
        summary = MailboxSummary(mailbox.address)
        with self.store.session() as session:
            cursor = load_cursor(session, source)
        try:
            for page in mailbox.pull(cursor):
                self._commit_page(source, mailbox.address, owner_id, page, summary, fence)
                crashpoint("mailbox.after_page_commit")
                summary.resync_reason = summary.resync_reason or page.resync_reason
                if stopping is not None and stopping.is_set():
                    summary.cut_short = True
                    return summary
            summary.succeeded = True
            if record_success:
                with self.store.session() as session:
                    mark_success(session, source)
            if summary.pulled:      # an idle mailbox's poll is not worth a line
                log.info("mailbox.pulled", mailbox=mailbox.address, pulled=summary.pulled, matched=summary.matched,
                         skipped=sum(summary.skipped.values()))
        except LeaseLost:
            summary.cut_short = True
            log.warning("mailbox.lease_lost", mailbox=mailbox.address)
        except ProviderError as exc:
            summary.error = f"{exc.kind}: {exc}"
            log.warning("mailbox.error", mailbox=mailbox.address, error=exc.kind, detail=str(exc)[:300])
            with self.store.session() as session:
                record_provider_error(session, source, exc)
        except PageFailed as exc:
            summary.error = f"internal_error: {exc}"
            log.error("mailbox.page_failed", mailbox=mailbox.address, detail=str(exc))
            with self.store.session() as session:
                record_error(session, source, "internal_error", str(exc))
        return summary

    def _commit_page(self, source: str, mailbox: str, owner_id: str | None, page: MailPage,
                     summary: MailboxSummary, fence: Callable[[Session], None] | None) -> None:
        """Ingest one page and save the cursor after it in one transaction; on an unexpected exception,
        roll back and take the page again message by message (see the module docstring)."""
        before = summary.counts()
        prepared = {raw.provider_id: prepare(raw) for raw in page.messages}
        try:
            self._commit(source, owner_id, page, fence,
                         lambda s: self._ingest(s, mailbox, owner_id, page, prepared, summary))
            return
        except NOT_THE_MESSAGE:
            raise
        except Exception as exc:                        # noqa: BLE001 - any bug must not stick the cursor
            log.warning("mailbox.page_retried_per_message", mailbox=mailbox, error=type(exc).__name__)
        summary.restore(before)
        failed: list[str] = []
        self._commit(source, owner_id, page, fence,
                     lambda s: self._ingest(s, mailbox, owner_id, page, prepared, summary, failed=failed))
        if failed:
            summary.skipped["internal_error"] += len(failed)

    def _commit(self, source: str, owner_id: str | None, page: MailPage, fence: Callable[[Session], None] | None,
                ingest: Callable[[Session], None]) -> None:
        with self.store.session() as session:
            ingest(session)
            if fence is not None:
                fence(session)
            save_cursor(session, source, page.cursor, resync_reason=page.resync_reason)

    def _ingest(self, session: Session, mailbox: str, owner_id: str | None, page: MailPage,
                prepared: dict[str, Prepared], summary: MailboxSummary, *, failed: list[str] | None = None) -> None:
        """Decide every message of `page`. With `failed` given, each message runs in a savepoint and one
        that raises unexpectedly is quarantined (its provider id appended to `failed`) instead."""
        ids = [m.provider_id for m in page.messages]
        known = set(session.exec(select(MessageRow.provider_id).where(
            MessageRow.mailbox == mailbox, col(MessageRow.provider_id).in_(ids))).all())
        summary.logged_threads = set()          # this attempt's (a page taken again per message starts afresh)
        summary.forgetting = any_forgotten(session)
        for raw in page.messages:
            summary.pulled += 1
            if raw.provider_id in known:
                if not self._relabelled(session, mailbox, owner_id, raw, prepared[raw.provider_id], summary):
                    summary.duplicates += 1
                continue
            known.add(raw.provider_id)
            if failed is None:
                self._ingest_one(session, mailbox, owner_id, raw, prepared[raw.provider_id], summary)
            else:
                self._ingest_guarded(session, mailbox, owner_id, raw, prepared[raw.provider_id], summary, failed,
                                     len(page.messages))
            crashpoint("mailbox.after_message")
        self._settle_threads(session, mailbox, summary)

    def _settle_threads(self, session: Session, mailbox: str, summary: MailboxSummary) -> None:
        """Decide again the strangers' messages of `mailbox` that wait for a thread just made known (a message of
        it logged), so what is logged does not depend on the order the mailbox was read in. One pass per newly
        known thread: a message decided again that still matches nobody waits again, for a later message."""
        retaken: set[str] = set()
        while summary.logged_threads:
            refs, summary.logged_threads = summary.logged_threads, set()
            # Not the ones decided again already: taking one of those would drop it (its rows go when taken).
            for owner_id, raw in take_thread_waits(session, mailbox, refs, keep=retaken):
                retaken.add(raw.provider_id)
                settled = MailboxSummary(mailbox)
                self._ingest_guarded(session, mailbox, owner_id, raw, prepare(raw), settled, [], 1)
                summary.matched += settled.matched
                summary.intended += settled.intended
                summary.logged_threads |= settled.logged_threads

    def _ingest_guarded(self, session: Session, mailbox: str, owner_id: str | None, raw: RawMessage,
                        prepared: Prepared, summary: MailboxSummary, failed: list[str], page_size: int) -> None:
        before = summary.counts()
        try:
            with session.begin_nested():
                self._ingest_one(session, mailbox, owner_id, raw, prepared, summary)
            return
        except NOT_THE_MESSAGE:
            raise
        except Exception as exc:                        # noqa: BLE001 - quarantine it, whatever it was
            summary.restore(before)
            reason = f"internal error: {type(exc).__name__}: {exc}"[:400]
            failed.append(raw.provider_id)
            log.error("message.quarantined", mailbox=mailbox, provider_id=raw.provider_id,
                      reason=reason, exc_info=True)
        if len(failed) > max(3, page_size // 2):
            raise PageFailed(f"{len(failed)} of {page_size} messages of a page failed unexpectedly "
                             f"(last: {reason}); not quarantining a whole page")
        session.add(MessageRow(mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder,
                               classification="unprocessable", decision="quarantined", reason=reason))
        record_error(session, f"mailbox:{mailbox}", "unprocessable_message", f"{raw.provider_id}: {reason}")

    def _ingest_one(self, session: Session, mailbox: str, owner_id: str | None, raw: RawMessage,
                    prepared: Prepared, summary: MailboxSummary) -> None:
        try:
            parsed, classification = prepared.result()
        except MalformedMessage as exc:
            summary.skipped["malformed"] += 1
            session.add(MessageRow(mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder,
                                   classification="malformed", decision="quarantined", reason=exc.reason[:400]))
            record_error(session, f"mailbox:{mailbox}", "malformed_message", f"{raw.provider_id}: {exc.reason}")
            log.warning("message.quarantined", mailbox=mailbox, provider_id=raw.provider_id, reason=exc.reason)
            return
        thread_ref = raw.thread_id or _thread_root(parsed)
        decision = decide(parsed, classification, raw.folder, mailbox, self.policy,
                          lambda a: contacts_for_address(session, a),
                          lambda: _thread_contacts(session, mailbox, parsed, raw.thread_id))
        decision = decide_labels(session, mailbox, self.label_rules.get(mailbox), decision, raw, parsed.message_id)
        hidden = (forgotten_among(session, (parsed.from_address, *parsed.to, *parsed.cc), self.policy)
                  if summary.forgetting else set())
        if parsed.from_address.strip().lower() in hidden:
            # From a person forgotten on request: nothing of it is kept or logged (not even who or what).
            session.add(MessageRow(mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder,
                                   classification=classification.kind, decision="skipped", reason=FORGOTTEN))
            summary.skipped[FORGOTTEN] += 1
            return
        if (decision.action != "log" and decision.reason == NO_CONTACT and self.crm_source is not None
                and mirror_behind(session, self.crm_source)):
            # Maybe from a contact the paused backfill has not reached yet: decided again once it has.
            session.add(MessageRow(
                mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder, message_id=parsed.message_id,
                thread_ref=thread_ref, from_address=parsed.from_address, subject=parsed.subject[:998],
                sent_at=parsed.date, classification=classification.kind, decision="deferred",
                reason="no known contact yet: the contact mirror is still being filled"))
            defer(session, mailbox, owner_id, raw)
            summary.skipped["deferred"] += 1
            return
        if classification.calendar is not None:     # a meeting response or invitation: an event, never an email
            decision = meeting_decision(classification.calendar, decision, self.policy,
                                        lambda a: contacts_for_address(session, a))
        reply = extract_reply(parsed.text, parsed.html, parsed.from_name) if decision.action == "log" else None
        meeting = classification.calendar is not None and bool(decision.contact_ids)
        session.add(MessageRow(
            mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder, message_id=parsed.message_id,
            thread_ref=thread_ref, from_address=parsed.from_address, subject=parsed.subject[:998],
            sent_at=parsed.date, classification=classification.kind,
            decision="logged" if decision.action == "log" else "meeting" if meeting else "skipped",
            reason=decision.reason[:400],
            contact_ids=json.dumps(list(decision.contact_ids)), reply_text=reply))
        record_events(session, mail_events(session, mailbox, raw, parsed, classification, decision, reply, self.policy))
        if decision.action != "log":
            summary.skipped[decision.reason.split(":")[0]] += 1
            if self.creation is not None and asks_for_contact(session, self.creation, self.policy, mailbox, owner_id,
                                                              raw, parsed, classification, decision, summary):
                return                      # it waits for the contact it asked for (contact_waits.py)
            waits_for = _thread_wait_key(decision, parsed, raw)
            if waits_for:
                # A stranger in a thread: the message that makes the thread known may be read after this one.
                defer(session, mailbox, owner_id, raw, kind=THREAD, thread_ref=waits_for[:400])
            return
        summary.matched += 1
        summary.logged_threads.update(r[:400] for r in (thread_ref, _thread_root(parsed), parsed.message_id) if r)
        # ids only: the reply text and subject are customer data and stay out of logs
        log.debug("message.matched", mailbox=mailbox, provider_id=raw.provider_id,
                  classification=classification.kind, contact_ids=list(decision.contact_ids))
        summary.intended += intend(session, self._intents(session, mailbox, owner_id, raw, parsed, decision,
                                                          reply or "", thread_ref, hidden))

    def settle_contact_waits(self, *, fence: Callable[[Session], None] | None = None) -> int:
        """Decide again the mail that waits for a contact the mirror has now (sync.create_contacts), a batch per
        transaction (`fence` run in each); returns how many were taken up."""
        done = 0
        while True:
            with self.store.session() as session:
                taken = take_ready(session, CONTACT_BATCH)
                for mailbox, owner_id, raw in taken:
                    summary = MailboxSummary(mailbox)
                    self._ingest_guarded(session, mailbox, owner_id, raw, prepare(raw), summary, [], 1)
                    self._settle_threads(session, mailbox, summary)
                if fence is not None:
                    fence(session)
            done += len(taken)
            if len(taken) < CONTACT_BATCH:
                return done

    def _relabelled(self, session: Session, mailbox: str, owner_id: str | None, raw: RawMessage,
                    prepared: Prepared, summary: MailboxSummary) -> bool:
        """A message seen before, handed over again: decided again if its labels now change the decision."""
        done = reconsider(session, mailbox, raw, self.label_rules.get(mailbox),
                          lambda: self._ingest_one(session, mailbox, owner_id, raw, prepared, summary))
        if done == "withdrawn":
            summary.skipped["label: withdrawn"] += 1
        return done is not None

    def _intents(self, session: Session, mailbox: str, owner_id: str | None, raw: RawMessage,
                 parsed: ParsedMessage, decision: Decision, reply: str, thread_ref: str | None,
                 hidden: Collection[str] = ()) -> list[Intent]:
        """The log and property intents of a logged message; `hidden` (forgotten people) leave its To and Cc."""
        identity = message_identity(parsed.message_id, mailbox, raw.provider_id, raw.raw)
        occurred = parsed.date or raw.internal_date or datetime.now(UTC)
        intents = []
        for contact_id in decision.contact_ids:
            contact_id = surviving_contact(session, contact_id)
            key = log_email_key(identity, contact_id)
            activity = EmailActivity(
                key=key, contact_id=contact_id, direction=decision.direction, occurred_at=occurred,
                subject=parsed.subject, text=reply, from_address=parsed.from_address,
                to_addresses=[a for a in parsed.to if a.strip().lower() not in hidden],
                cc_addresses=[a for a in parsed.cc if a.strip().lower() not in hidden], message_id=parsed.message_id, thread_ref=thread_ref, owner_id=owner_id)
            intents.append(Intent(key, "log_email", contact_id, activity.model_dump(mode="json")))
            if decision.direction == "incoming":
                intents.append(Intent(update_contact_key(identity, contact_id), "update_contact", contact_id,
                                      {"contact_id": contact_id}))
        return intents


def mail_events(session: Session, mailbox: str, raw: RawMessage, parsed: ParsedMessage,
                classification: Classification, decision: Decision, reply: str | None,
                policy: AddressPolicy) -> list[Event]:
    """Rule-layer events for this message: reply received / email sent on the logged contacts, meeting
    events (meetings.py) on the contacts a meeting response names, and auto-replies and bounces on the
    contacts they came from (those are never logged, but they matter)."""
    identity = message_identity(parsed.message_id, mailbox, raw.provider_id, raw.raw)
    # The later of the Date header and the mailbox's receipt time: Date has whole seconds and the sender's
    # clock may be slow, and a reply must never look older than the enrolment it answers.
    stamps = [_aware(d) for d in (parsed.date, raw.internal_date) if d is not None]
    at = max(stamps) if stamps else datetime.now(UTC)
    source = f"mailbox:{mailbox}"
    if decision.action == "log":
        kind = "reply.received" if decision.direction == "incoming" else "email.sent"
        data: dict[str, object] = {"subject": parsed.subject, "message_id": parsed.message_id,
                                   "mailbox": mailbox,
                                   **({"text": (reply or "")[:500]} if kind == "reply.received" else {})}
        targets = [(kind, c, data) for c in decision.contact_ids]
    elif classification.calendar is not None and decision.contact_ids:
        # Ids from the meeting, not the message; one meeting.booked per meeting with the CRM's pull.
        return without_known_meetings(session, meeting_events(
            classification.calendar, decision.contact_ids, at, source,
            {"subject": parsed.subject, "message_id": parsed.message_id, "mailbox": mailbox}))
    elif classification.kind == "auto_reply":
        data = {"subject": parsed.subject, "mailbox": mailbox,
                "return_date": classification.return_date.isoformat() if classification.return_date else None}
        targets = [("auto_reply.received", c, data)
                   for c in contacts_for_address(session, policy.normalize(parsed.from_address))]
    elif classification.kind == "bounce":
        data = {"recipients": list(classification.bounced_recipients), "mailbox": mailbox}
        targets = [("bounce.received", c, data) for a in classification.bounced_recipients
                   for c in contacts_for_address(session, policy.normalize(a))]
    else:
        return []
    return [Event(id=event_id(kind, identity, contact), type=kind, contact_id=contact, occurred_at=at,
                  source=source, data=data) for kind, contact, data in targets]


def _thread_wait_key(decision: Decision, parsed: ParsedMessage, raw: RawMessage) -> str | None:
    """For a message skipped only for want of a known contact, incoming, and in a thread: what it waits for. The
    thread's root Message-ID when it answers something (the same in every mailbox and whatever threads the provider
    made), else the provider's thread id; None when it is in no thread (or skipped for another reason)."""
    if decision.reason != NO_CONTACT or decision.direction != "incoming":
        return None
    return (parsed.references[0] if parsed.references else parsed.in_reply_to) or raw.thread_id


def _thread_root(parsed: ParsedMessage) -> str | None:
    return (parsed.references[0] if parsed.references else parsed.in_reply_to) or parsed.message_id


def _thread_contacts(session: Session, mailbox: str, parsed: ParsedMessage, thread_id: str | None) -> list[str]:
    """Contacts already logged in this thread: by In-Reply-To/References, or the provider's thread id."""
    refs = [r for r in (parsed.in_reply_to, *parsed.references) if r]
    query = select(MessageRow.contact_ids).where(MessageRow.decision == "logged")
    rows: list[str] = []
    if refs:
        rows += session.exec(query.where(col(MessageRow.message_id).in_(refs))).all()
    if thread_id:
        rows += session.exec(query.where(MessageRow.mailbox == mailbox, MessageRow.thread_ref == thread_id)).all()
    return sorted({cid for r in rows for cid in json.loads(r)})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
