"""Due email steps -> each mailbox's daily cap and spacing -> send_email intents (or a later next_due_at).

What one batch of the sequence runner records is collected in a Batch and written in the batch's
transaction, together with the enrollment rows changed here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from threadline.rules.effects import Effect
from threadline.rules.sequences import DueStep, Enrollment, Sequencer
from threadline.rules.sequences.mail import (
    Senders,
    SendingMailbox,
    previous_send_keys,
    send_payload,
    thread_of,
)
from threadline.rules.sequences.store import MailboxLoad, outbox_rows, revive, write_back
from threadline.rules.store import audit_row, effect_intent
from threadline.sync.events.records import Event
from threadline.sync.outbox.rows import Intent
from threadline.sync.store.tables import EnrollmentRow, utcnow


@dataclass
class Batch:
    """What one transaction records besides the enrollment rows it changed."""

    intents: list[Intent] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    holds: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    events: list[Event] = field(default_factory=list)       # branch decisions (sequence.branched)
    revived: int = 0

    def effect(self, effect: Effect) -> None:
        self.intents.append(effect_intent(effect))
        self.audits.append(audit_row(effect))

    def hold(self, kind: str, what: str, contact_id: str) -> None:
        self.holds[(kind, what)].append(contact_id)


@dataclass(frozen=True)
class DueEmail:
    """An email step ready for the caps: its enrollment, the rendered step and where it goes from/to."""

    row: EnrollmentRow
    enrollment: Enrollment
    step: DueStep
    box: SendingMailbox
    to: str


def send_or_defer(session: Session, sequencer: Sequencer, emails: list[DueEmail], now: datetime, senders: Senders,
                  load: MailboxLoad, batch: Batch, unsubscribe: Callable[[str], str]) -> int:
    """Intend what the caps let go now; move the rest to their spacing slot or the next UTC day.
    Returns how many were deferred. ``load`` is updated so later batches of the run see these sends."""
    by_box: dict[str, list[DueEmail]] = defaultdict(list)
    for due in emails:
        by_box[due.box.address].append(due)
    sends: list[DueEmail] = []
    deferred_count = 0
    for address, group in by_box.items():
        by_key = {due.step.key: due for due in group}
        send, deferred = sequencer.apply_mailbox_caps(
            [due.step for due in group], load.counts, _always(address), now, load.last)
        for step in send:
            load.note(address, now)
            sends.append(by_key[step.key])
        for step in deferred:
            deferred_count += 1
            spaced = step.due_at > now
            if spaced:
                load.note(address, step.due_at)      # reserve the slot for later batches of this run
            write_back(by_key[step.key].row, by_key[step.key].enrollment,
                       step.due_at if spaced else load.day + timedelta(days=1))
    _intend_sends(session, sends, now, senders, batch, unsubscribe)
    return deferred_count


def _intend_sends(session: Session, sends: list[DueEmail], now: datetime, senders: Senders,
                  batch: Batch, unsubscribe: Callable[[str], str]) -> None:
    keys = [due.step.key for due in sends]
    earlier = [key for due in sends if due.step.thread_reply for key in previous_send_keys(due.step)]
    existing = outbox_rows(session, keys + earlier)
    for due in sends:
        from_name = due.box.display_name or senders.name_of(due.box.owner_id) or ""
        payload = send_payload(due.step, due.box, from_name, due.to,
                               unsubscribe(due.step.contact_id), thread_of(due.step, existing))
        row = existing.get(due.step.key)
        if row is None:
            batch.intents.append(Intent(due.step.key, "send_email", due.step.contact_id, payload))
        elif row.status == "cancelled":      # stopped before, resumed since: send the freshly rendered step
            revive(row, payload, now)
            session.add(row)
            batch.revived += 1
        # A row already pending, in flight or done is the executor's: the enrollment just waits for it.
        batch.audits.append(_send_audit(due.step, payload))
        write_back(due.row, due.enrollment, None, mailbox=due.box.address)


def _send_audit(step: DueStep, payload: dict[str, Any]) -> dict[str, Any]:
    return {"at": utcnow(), "rule": f"sequence:{step.sequence}", "contact_id": step.contact_id,
            "effect_key": step.key, "kind": "send_email",
            "reason": f"sequence {step.sequence} step {step.step_index + 1} from {payload['mailbox']}",
            "detail": json.dumps(payload, sort_keys=True)}


def _always(address: str) -> Callable[[str], str]:
    """`mailbox_of` for a group of steps that all send from `address`."""
    return lambda _contact: address
