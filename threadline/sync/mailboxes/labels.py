"""Opt-in and opt-out by label (`sync.only_labelled` / `sync.never_labelled`, per mailbox or globally).

A message is logged only if it carries one of the `only` labels (when any are set) and none of the `never`
labels; the labels are what the adapter reports on `RawMessage.labels` (Gmail label names, Outlook
categories, IMAP keywords and folder). Label names match case-insensitively, as all three providers treat them.

Labelling a message after it was synced is honoured on the next pull: the adapters hand a relabelled message
over again and `reconsider` decides it again instead of counting it as a duplicate:

- opt-in: a message skipped only for a missing `only` label that now carries one is ingested afresh (same
  outbox keys as a fresh log, so it is never logged twice);
- opt-out: a logged message that now carries a `never` label gets a `delete_email` outbox intent per logged
  activity (performed by sync/outbox/deletes.py) and an audit row saying why; the message row becomes
  `withdrawn`. Removing an `only` label from a logged message removes nothing: only an opt-out label does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from threadline.adapters.records import RawMessage
from threadline.sync.contacts.mirror import surviving_contact
from threadline.sync.mail.matching import NO_CONTACT, Decision
from threadline.sync.outbox.keys import log_email_key, message_identity
from threadline.sync.outbox.rows import Intent, intend
from threadline.sync.store.tables import AuditRow, DeferredMailRow, MessageRow, OutboxRow, utcnow
from threadline.sync.store.upsert import insert_ignore

#: Every skip reason this module gives starts so (status counts skips by the text before the first colon).
LABEL_REASON = "label: "
DELETE_KIND = "delete_email"
OPT_OUT_RULE = "privacy:never_labelled"


@dataclass(frozen=True)
class LabelRule:
    """One mailbox's label settings: `only` (log only mail with one of these) and `never` (never log these)."""

    only: tuple[str, ...] = ()
    never: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.only or self.never)

    def opted_out(self, labels: Iterable[str]) -> str | None:
        """The `never` label the message carries (as configured), or None."""
        have = {label.casefold() for label in labels}
        return next((label for label in self.never if label.casefold() in have), None)

    def blocks(self, labels: Iterable[str]) -> str | None:
        """Why a message with these labels must not be logged (a skip reason), or None when it may be."""
        labels = tuple(labels)
        never = self.opted_out(labels)
        if never is not None:
            return f"{LABEL_REASON}labelled {never}"
        have = {label.casefold() for label in labels}
        if self.only and not any(label.casefold() in have for label in self.only):
            return f"{LABEL_REASON}not labelled {' or '.join(self.only)}"
        return None


def apply(rule: LabelRule | None, decision: Decision, raw: RawMessage) -> Decision:
    """`decision`, turned into a skip when the message's labels do not allow logging it.

    Mail from no known contact too: it may be kept to be decided again later (deferred.py: the contact mirror
    still filling, or a thread not known yet), and mail the labels keep out must not be kept for that. Mail kept
    so comes back without its labels (None): it passed them when it was first read, and a label added since
    hands it over again (`reconsider`), so it is not judged by labels it no longer shows."""
    if not rule or raw.labels is None or (decision.action != "log" and decision.reason != NO_CONTACT):
        return decision
    why = rule.blocks(raw.labels)
    return decision if why is None else Decision(action="skip", reason=why, direction=decision.direction)


def decide_labels(session: Session, mailbox: str, rule: LabelRule | None, decision: Decision, raw: RawMessage,
                  message_id: str | None) -> Decision:
    """`apply`, for a message read for the first time under this provider id. One that carries an opt-out label
    and was logged before under another id of the same mailbox (an IMAP message moved into an opt-out folder:
    a new UID there) withdraws that logged copy, as labelling it would have."""
    labelled = apply(rule, decision, raw)
    label = rule.opted_out(raw.labels) if rule and message_id and raw.labels is not None else None
    if label is not None:
        for row in session.exec(select(MessageRow).where(
                MessageRow.mailbox == mailbox, MessageRow.message_id == message_id,
                MessageRow.decision == "logged", MessageRow.provider_id != raw.provider_id)).all():
            withdraw(session, row, raw, label)
    return labelled


def reconsider(session: Session, mailbox: str, raw: RawMessage, rule: LabelRule | None,
               ingest_again: Callable[[], None]) -> str | None:
    """Decide a message seen before again if its labels now change the decision.

    Returns "logged" (opt-in: the earlier label skip is forgotten and `ingest_again` ingests it as new),
    "withdrawn" (opt-out of a logged message: delete intents and audit rows recorded), "skipped" (opt-out of a
    message kept to be decided again: no longer kept), or None (nothing changes: the caller counts a
    duplicate)."""
    if not rule or raw.labels is None:
        return None
    row = session.exec(select(MessageRow).where(MessageRow.mailbox == mailbox,
                                                MessageRow.provider_id == raw.provider_id)).first()
    if row is None:
        return None
    if row.decision == "skipped" and row.reason.startswith(LABEL_REASON) and rule.blocks(raw.labels) is None:
        session.delete(row)
        session.flush()          # the fresh row takes the same (mailbox, provider_id)
        ingest_again()
        return "logged"
    label = rule.opted_out(raw.labels)
    if row.decision == "logged" and label is not None:
        withdraw(session, row, raw, label)
        return "withdrawn"
    if label is not None and row.decision in ("deferred", "skipped"):
        # Kept to be decided again (deferred.py: the contact mirror was behind, or a stranger in a thread not
        # known yet), and opted out since: it must never be logged, nor kept.
        kept = session.exec(select(DeferredMailRow).where(DeferredMailRow.mailbox == mailbox,
                                                          DeferredMailRow.provider_id == raw.provider_id)).all()
        if kept or row.decision == "deferred":
            for waiting in kept:
                session.delete(waiting)
            row.decision, row.reason = "skipped", f"{LABEL_REASON}labelled {label}"
            session.add(row)
            return "skipped"
    return None


def withdraw(session: Session, row: MessageRow, raw: RawMessage, label: str) -> int:
    """Record the removal of every activity logged for `row` (one delete intent and one audit row each);
    returns how many intents were new."""
    identity = message_identity(row.message_id, row.mailbox, raw.provider_id, raw.raw)
    contacts = [str(c) for c in json.loads(row.contact_ids)]
    # The keys the log intents were recorded under (the surviving contact at the time), and today's.
    keys = {log_email_key(identity, c) for c in contacts}
    keys |= {log_email_key(identity, surviving_contact(session, c)) for c in contacts}
    logged = session.exec(select(OutboxRow).where(OutboxRow.kind == "log_email",
                                                  col(OutboxRow.key).in_(sorted(keys)))).all()
    targets = {r.key: r.contact_id for r in logged} or {
        log_email_key(identity, surviving_contact(session, c)): surviving_contact(session, c) for c in contacts}
    reason = (f"message {row.message_id or raw.provider_id} in {row.mailbox} was labelled {label!r} after it was "
              f"logged: its CRM activity is removed")
    intents, audits = [], []
    for log_key, contact_id in sorted(targets.items()):
        key = delete_key(log_key)
        payload: dict[str, Any] = {"log_key": log_key, "contact_id": contact_id, "mailbox": row.mailbox,
                                   "provider_id": row.provider_id, "message_id": row.message_id, "label": label}
        intents.append(Intent(key, DELETE_KIND, contact_id, payload))
        audits.append({"at": utcnow(), "rule": OPT_OUT_RULE, "contact_id": contact_id, "effect_key": key,
                       "kind": DELETE_KIND, "reason": reason[:1000], "detail": json.dumps(payload, sort_keys=True)})
    row.decision = "withdrawn"
    row.reason = f"{LABEL_REASON}labelled {label} after it was logged; its CRM activity is removed"[:400]
    session.add(row)
    insert_ignore(session, AuditRow, audits, ["effect_key"])
    return intend(session, intents)


def delete_key(log_key: str) -> str:
    """The delete intent's key for one logged activity (deterministic: withdrawing twice records it once)."""
    return "de-" + hashlib.sha256(f"delete_email\x1f{log_key}".encode()).hexdigest()[:40]
