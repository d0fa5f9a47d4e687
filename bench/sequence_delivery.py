"""The sending side of the scheduler benchmark: intended send_email rows become sent, as the executor records them.

Two ways, both ending in the executor's own `send_records.record_sent` (row done, enrollment advanced,
outgoing activity intended, `email.sent` event, audit row):

* `RecordingDelivery` (default): every pending row is handed to an in-memory provider and recorded
  with `record_sent`, all in one transaction per cycle. The scheduler is what is measured, so the
  executor's per-send work (claim, Sent lookup, stop check, submitted_at commit) stays out of the run.
* `ExecutorDelivery`: the real SendExecutor over the same in-memory provider (slower; checks the
  whole send path under the simulated clock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, select

from threadline.adapters.sending import OutgoingEmail, SentRef
from threadline.rules.sequences.send_check import why_not_send
from threadline.sync.outbox.send_records import SEND_KIND, SendRow, record_sent
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store
from threadline.sync.store.tables import OutboxRow


class InstantProvider:
    """A mail provider that accepts every message at once and finds it again by Message-ID.

    It implements the MailSender protocol (sent copies visible at once), so the executor's own code
    runs unchanged against it. Each accepted mail is appended to `delivered` as (mailbox, recipient)."""

    sent_visibility = timedelta(0)

    def __init__(self, address: str, delivered: list[tuple[str, str]]) -> None:
        self.address = address
        self.sent: dict[str, SentRef] = {}
        self.delivered = delivered

    def send(self, email: OutgoingEmail, *, on_submit: Callable[[], None] | None = None) -> SentRef:
        if on_submit is not None:
            on_submit()
        ref = SentRef(message_id=email.message_id, provider_id=f"{self.address}/{len(self.sent)}",
                      thread_id=email.thread_id or f"thread-{email.key[:16]}")
        self.sent[email.message_id] = ref
        self.delivered.append((self.address, email.to[0]))
        return ref

    def find_sent(self, message_id: str) -> SentRef | None:
        return self.sent.get(message_id)


class RecordingDelivery:
    """Sends every pending send_email row at `now` and records it with the executor's record_sent."""

    def __init__(self, store: Store, providers: dict[str, InstantProvider], owners: dict[str, str]) -> None:
        self.store = store
        self.providers = providers
        self.owners = owners

    def __call__(self, now: datetime) -> int:
        with self.store.session() as session:
            rows = session.exec(select(OutboxRow).where(OutboxRow.kind == SEND_KIND, OutboxRow.status == "pending")
                                .order_by(col(OutboxRow.id))).all()
            for row in rows:
                send = SendRow.of(row)
                ref = self.providers[send.mailbox].send(send.email)
                record_sent(session, send, ref, now, confirmed=True, owner_id=self.owners.get(send.mailbox))
        return len(rows)


class ExecutorDelivery:
    """The SendExecutor (no mailbox refresh: replies arrive as events) at the simulated `now`."""

    def __init__(self, store: Store, providers: dict[str, InstantProvider], owners: dict[str, str]) -> None:
        self.executor = SendExecutor(store, providers, None, send_check=why_not_send, mailbox_owners=owners)

    def __call__(self, now: datetime) -> int:
        summary = self.executor.run(now)
        return summary.sent + summary.confirmed_from_sent
