"""Send sequence email from the outbox, exactly once, and never after a reply.

A `send_email` row's life: pending -> in_flight (claimed) -> [submitted_at committed]
-> provider -> done (committed with the enrollment advanced and the activity intended).
Every claimed row is first looked up in the mailbox's Sent folder by the Message-ID
chosen when it was intended, so a crash after the provider accepted the mail, or a
restored store, records the send instead of repeating it. When an earlier attempt
handed the mail over without learning the outcome and no copy is found, the sender's
`sent_visibility` decides: wait for the copy to show, send again once it surely would
have, or (SMTP: the copy is ours) record it as sent, unconfirmed — never a second copy.

Right before sending, the mailbox is read once more (`refresh`) and the stop rules
are checked against the contact's freshest events: a reply that arrived seconds
earlier cancels the send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlmodel import Session

from threadline.adapters.errors import AuthExpired, PermanentError, ProviderError, RateLimited
from threadline.adapters.fencing import Fenced, fenced
from threadline.adapters.sending import MailSender, SentRef
from threadline.crashpoints import crashpoint
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox import send_records
from threadline.sync.outbox.fence import RowFence, long_throttle
from threadline.sync.outbox.retry_policy import RetryPolicy
from threadline.sync.outbox.send_records import SEND_KIND, SendRow
from threadline.sync.store.database import Store
from threadline.sync.work.cursors import record_error, record_provider_error
from threadline.sync.work.holds import held_until, hold_source
from threadline.sync.work.leases import replica_id

log = structlog.get_logger("threadline.send")
CLAIM = 5                           # rows per claim: sends are spaced by the runner, and each one is slow
REFRESH_AGE = 5.0                  # seconds a mailbox read stays fresh enough for the stop check
LEASE = timedelta(minutes=2)        # default of sync.lease_time; renewed before the refresh and again before the send
SEQUENCES_SOURCE = "sequences"
NO_SENDER_DELAY = timedelta(hours=1)


@dataclass
class SendSummary:
    """What one pass did: `threadline sync --once` prints it."""

    sent: int = 0
    cancelled: int = 0
    confirmed_from_sent: int = 0    # found in Sent: an earlier attempt went out, recorded now
    unconfirmed: int = 0            # handed over earlier, outcome unknown, never resent (SMTP)
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class SendCheck(Protocol):
    """Why a due send must not go out now (a reason such as "replied"), or None to send it.

    Called in the session that would cancel the row, right before the provider call; the sequences'
    stop rules provide it (`threadline.rules.sequences.send_check.why_not_send`)."""

    def __call__(self, session: Session, send: SendRow, now: datetime, /) -> str | None: ...


class SendExecutor:
    """Drains `send_email` rows through each mailbox's MailSender. Safe in several processes (rows are leased).

    `senders` maps a sending address to its sender; `refresh(address)` ingests that mailbox's
    new mail (so a reply becomes an event before the stop check); `mailbox_owners` gives the
    CRM owner written on the logged outgoing activity; `send_check` is the last word before each send
    (the sequence's stop rules over the freshest events). Each row's lease (`lease`) is renewed
    right before it is worked on and again right before the send; a row another replica took
    over meanwhile is skipped. Setting `stopping` ends `run` between rows, and the rows it had
    claimed but not started go back to pending.
    """

    def __init__(self, store: Store, senders: Mapping[str, MailSender], refresh: Callable[[str], None] | None,
                 *, send_check: SendCheck, owner: str | None = None,
                 mailbox_owners: Mapping[str, str | None] | None = None, lease: timedelta = LEASE,
                 stopping: threading.Event | None = None, retry: RetryPolicy | None = None) -> None:
        self.store = store
        self.senders = dict(senders)
        self.refresh = refresh
        self.send_check = send_check
        self.owner = owner or replica_id()
        self.mailbox_owners = dict(mailbox_owners or {})
        self.lease = lease
        self.stopping = stopping or threading.Event()
        self.retry = retry or RetryPolicy()

    def run(self, now: datetime | None = None) -> SendSummary:
        """One pass over the due rows. `now` fixes the clock (tests); provider errors are recorded, not raised."""
        summary = SendSummary()
        self._release_orphans()
        refreshed: dict[str, float] = {}
        stopped: set[str] = set()
        handled: set[int] = set()
        while not self.stopping.is_set():
            with self.store.session() as session:
                claimed = outbox.claim_due(session, SEND_KIND, self.owner, self.lease, CLAIM)
                again = [r for r in claimed if r.id in handled]
                for row in again:       # due again within this pass (a short Retry-After): next pass
                    outbox.mark_retry(row, row.last_error or "", timedelta(0))
                    row.attempts -= 1
                    session.add(row)
                rows = [SendRow.of(r) for r in claimed if r.id not in handled]
            if not rows:
                return summary
            for n, send in enumerate(rows):
                if self.stopping.is_set():
                    self._unclaim(rows[n:])
                    return summary
                handled.add(send.id)
                if self._still_held(send):
                    self._one(send, now, refreshed, stopped, summary)
        return summary

    def _still_held(self, send: SendRow) -> bool:
        """Renew the row's lease; False when another replica took it over (it performs the row)."""
        with self.store.session() as session:
            held = bool(outbox.renew(session, [send.id], self.owner, self.lease))
        if not held:
            log.warning("send.lease_lost", key=send.key)
        return held

    def _unclaim(self, rows: list[SendRow]) -> None:
        with self.store.session() as session:
            released = outbox.unclaim(session, [r.id for r in rows], self.owner)
        log.info("send.unclaimed", rows=released)

    def _release_orphans(self) -> None:
        """In-flight rows whose performer died go back to pending at once: each is looked up in Sent first."""
        with self.store.session() as session:
            rows = outbox.orphaned_in_flight(session, SEND_KIND, respect_leases=self.store.shared, own=self.owner)
            for row in rows:
                outbox.mark_retry(row, "released after its performer stopped", timedelta(0))
                session.add(row)
        if rows:
            log.info("send.released_orphans", rows=len(rows))

    # -- one row -------------------------------------------------------------------------------
    def _one(self, send: SendRow, now: datetime | None, refreshed: dict[str, float], stopped: set[str],
             summary: SendSummary) -> None:
        sender = self.senders.get(send.mailbox)
        parked = self._parked_until(send.mailbox)
        if sender is None or send.mailbox in stopped or parked is not None:
            self._hold(send, sender is None, summary, until=parked)
            return
        try:
            self._reconcile_or_send(send, sender, now, refreshed, summary)
        except Fenced as exc:          # another replica took the row over while this one stalled: it is theirs
            log.warning("send.fenced", key=send.key, reason=str(exc))
        except RateLimited as exc:     # a look-up was throttled: whatever an earlier attempt noted still holds
            if long_throttle(exc, self.lease):
                self._park(send, exc, summary)
                stopped.add(send.mailbox)
            else:
                self._retry(send, exc, _backoff(exc, send, self.retry), summary)
        except AuthExpired as exc:
            stopped.add(send.mailbox)
            self._retry(send, exc, self.retry.delay(send.attempts), summary)
        except PermanentError as exc:
            self._fail(send, exc, summary)
        except ProviderError as exc:    # transient: ambiguous ones are settled by find_sent next time
            if self.retry.gives_up(send.first_failure_at, now or datetime.now(UTC)):
                self._fail(send, exc, summary, gave_up=True)
            else:
                self._retry(send, exc, self.retry.delay(send.attempts), summary)

    def _fence(self, send: SendRow) -> RowFence:
        return RowFence(self.store, [send.id], self.owner, self.lease)

    def _parked_until(self, mailbox: str) -> datetime | None:
        with self.store.session() as session:
            return held_until(session, f"mailbox:{mailbox}")

    def _park(self, send: SendRow, exc: RateLimited, summary: SendSummary, *, not_submitted: bool = False) -> None:
        """A throttle longer than a call may wait: this mailbox's sends wait for it, on every replica."""
        wait = timedelta(seconds=exc.retry_after or 0)
        with self.store.session() as session:
            until = hold_source(session, f"mailbox:{send.mailbox}", datetime.now(UTC) + wait,
                                f"{exc.kind}: {exc}", self.owner)
            send_records.retry(session, send, f"parked until {until.isoformat()}: {exc.kind}: {exc}",
                               until - datetime.now(UTC), counted=False, not_submitted=not_submitted)
            record_provider_error(session, f"mailbox:{send.mailbox}", exc)
        summary.retried += 1
        summary.errors.append(f"{send.mailbox}: {exc.kind}: {exc}")
        log.warning("send.parked", mailbox=send.mailbox, until=until.isoformat(), reason=str(exc)[:200])

    def _reconcile_or_send(self, send: SendRow, sender: MailSender, now: datetime | None, refreshed: dict[str, float],
                           summary: SendSummary) -> None:
        at = now or datetime.now(UTC)
        with fenced(self._fence(send)):
            found = sender.find_sent(send.email.message_id)
        if found is not None:
            self._record(send, found, at, confirmed=True)
            summary.confirmed_from_sent += 1
            log.info("send.found_in_sent", key=send.key, message_id=send.email.message_id)
            return
        submitted = send.submitted_at
        if submitted is not None:
            if sender.sent_visibility is None:
                self._record_unconfirmed(send, at, summary)
                return
            if submitted + sender.sent_visibility > at:
                self._wait_for_copy(send, submitted + sender.sent_visibility - at, summary)
                return
            log.info("send.resending", key=send.key, submitted_at=submitted.isoformat())
        # Read the mailbox again unless it was read moments ago: a reply that arrived during a long pass
        # must still stop the sends after it (one cheap cursor call; a send costs far more).
        if self.refresh is not None and time.monotonic() - refreshed.get(send.mailbox, -REFRESH_AGE) >= REFRESH_AGE:
            self.refresh(send.mailbox)
            refreshed[send.mailbox] = time.monotonic()
            if not self._still_held(send):      # the refresh was long: make sure nobody else sends it now
                return
        with self.store.session() as session:
            reason = self.send_check(session, send, at)
            if reason is not None:
                send_records.cancel(session, send, reason, at)
        if reason is not None:
            summary.cancelled += 1
            log.info("send.cancelled", key=send.key, contact_id=send.contact_id, reason=reason)
            return
        crashpoint("send.before_submit")
        try:
            with fenced(self._fence(send)):
                ref = sender.send(send.email, on_submit=lambda: self._submitting(send, now))
        except RateLimited as exc:
            # Every attempt was refused outright: nothing was handed over, whatever on_submit noted.
            if long_throttle(exc, self.lease):
                self._park(send, exc, summary, not_submitted=True)
            else:
                self._retry(send, exc, _backoff(exc, send, self.retry), summary, not_submitted=True)
            return
        crashpoint("send.after_accept")
        self._record(send, ref, now or datetime.now(UTC), confirmed=True)
        summary.sent += 1
        log.info("send.sent", key=send.key, mailbox=send.mailbox, message_id=send.email.message_id)

    def _submitting(self, send: SendRow, now: datetime | None) -> None:
        with self.store.session() as session:
            send_records.mark_submitted(session, send, now or datetime.now(UTC))
        crashpoint("send.submitting")

    # -- outcomes ------------------------------------------------------------------------------
    def _record(self, send: SendRow, ref: SentRef, at: datetime, *, confirmed: bool) -> None:
        with self.store.session() as session:
            send_records.record_sent(session, send, ref, at, confirmed=confirmed,
                                     owner_id=self.mailbox_owners.get(send.mailbox))

    def _record_unconfirmed(self, send: SendRow, at: datetime, summary: SendSummary) -> None:
        """Handed to the SMTP server earlier, no copy in Sent: it may have gone out, so it is never resent."""
        message = (f"{send.key}: {send.email.message_id} to {', '.join(send.email.to)} was handed to the server "
                   f"at {send.submitted_at} but the outcome is unknown; recorded as sent, not sent again")
        with self.store.session() as session:
            send_records.record_sent(session, send, SentRef(message_id=send.email.message_id, provider_id=None),
                                     at, confirmed=False, owner_id=self.mailbox_owners.get(send.mailbox))
            record_error(session, SEQUENCES_SOURCE, "send_unconfirmed", message)
        summary.unconfirmed += 1
        log.warning("send.unconfirmed", key=send.key, mailbox=send.mailbox, message_id=send.email.message_id)

    def _wait_for_copy(self, send: SendRow, delay: timedelta, summary: SendSummary) -> None:
        with self.store.session() as session:
            send_records.retry(session, send, "handed over, outcome unknown: waiting for the copy to show in Sent",
                               delay)
        summary.retried += 1

    def _hold(self, send: SendRow, unknown: bool, summary: SendSummary, *, until: datetime | None = None) -> None:
        """No sender for this mailbox (config changed), or it is stopped this pass or parked by a long throttle:
        try again later, without counting an attempt (none was made)."""
        error = f"no sending mailbox {send.mailbox} is configured" if unknown else f"{send.mailbox} is stopped"
        if until is not None:
            error = f"{send.mailbox} is parked by a throttle until {until.isoformat()}"
        delay = (NO_SENDER_DELAY if unknown else until - datetime.now(UTC) if until is not None
                 else self.retry.delay(send.attempts))
        with self.store.session() as session:
            send_records.retry(session, send, error, delay, counted=False)
            if unknown:
                record_error(session, SEQUENCES_SOURCE, "no_sender", f"{send.key}: {error}")
        summary.retried += 1

    def _retry(self, send: SendRow, exc: ProviderError, delay: timedelta, summary: SendSummary, *,
               not_submitted: bool = False) -> None:
        with self.store.session() as session:
            send_records.retry(session, send, f"{exc.kind}: {exc}", delay, not_submitted=not_submitted)
            record_provider_error(session, f"mailbox:{send.mailbox}", exc)
        summary.retried += 1
        summary.errors.append(f"{send.mailbox}: {exc.kind}: {exc}")
        log.warning("send.retry", key=send.key, mailbox=send.mailbox, error=exc.kind, delay=delay.total_seconds())

    def _fail(self, send: SendRow, exc: ProviderError, summary: SendSummary, *, gave_up: bool = False) -> None:
        error = f"{'gave up after ' + str(send.attempts) + ' attempts: ' if gave_up else ''}{exc.kind}: {exc}"
        with self.store.session() as session:
            send_records.fail(session, send, error)
            record_provider_error(session, f"mailbox:{send.mailbox}", exc)
        summary.failed += 1
        summary.errors.append(f"{send.mailbox}: {error}")
        log.error("send.failed", key=send.key, mailbox=send.mailbox, error=exc.kind)


def _backoff(exc: RateLimited, send: SendRow, retry: RetryPolicy) -> timedelta:
    return timedelta(seconds=exc.retry_after) if exc.retry_after else retry.delay(send.attempts)
