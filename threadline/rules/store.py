"""The rule layer's shared reads and writes: contact facts from the mirror, effects as outbox intents and
audit rows, and named rule state. Decisions stay pure; this is where they meet the store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, Effect, SetFields, is_escalation
from threadline.sync.outbox.rows import Intent
from threadline.sync.store.tables import (
    AuditRow,
    ContactRow,
    EventRow,
    OutboxRow,
    RuleDueRow,
    RuleStateRow,
    as_utc,
    utcnow,
)
from threadline.sync.store.upsert import upsert


def contact_facts(row: ContactRow, owner_field: str | None = None) -> ContactFacts:
    """The mirror row as rules see it: CRM properties plus the standard fields under their usual names."""
    fields: dict[str, Any] = dict(json.loads(row.properties or "{}"))
    fields.update({"email": row.primary_email, "firstname": row.first_name, "lastname": row.last_name,
                   "company": row.company, "owner_id": row.owner_id})
    if owner_field:
        fields.setdefault(owner_field, row.owner_id)
    return ContactFacts(id=row.crm_id, fields=fields)


def effect_intent(effect: Effect) -> Intent:
    """The outbox intent that performs an effect (keyed by the effect's key, so intending twice is a no-op)."""
    if isinstance(effect, SetFields):
        return Intent(effect.key, "set_fields", effect.contact_id, {"fields": dict(effect.fields)})
    assert isinstance(effect, CreateTask)
    return Intent(effect.key, "create_task", effect.contact_id, {
        "key": effect.key, "contact_id": effect.contact_id, "owner_id": effect.owner_id, "subject": effect.subject,
        "body": effect.body, "due_at": effect.due_at.isoformat(), "priority": effect.priority})


def audit_row(effect: Effect) -> dict[str, Any]:
    """The audit row recording an effect and the rule behind it (unique per effect key)."""
    return {"at": utcnow(), "rule": effect.rule, "contact_id": effect.contact_id, "effect_key": effect.key,
            "kind": effect.kind, "reason": effect.reason[:1000], "detail": effect.model_dump_json()}


def load_rule_state(session: Session, name: str) -> dict[str, Any]:
    """A named piece of rule-layer state (cursor, pointers); empty when never saved."""
    row = session.get(RuleStateRow, name)
    return dict(json.loads(row.data)) if row else {}


def load_rule_states(session: Session, *names: str) -> dict[str, dict[str, Any]]:
    """Several named pieces of rule-layer state in one read (each empty when never saved)."""
    rows = session.exec(select(RuleStateRow).where(col(RuleStateRow.name).in_(names))).all()
    found = {row.name: dict(json.loads(row.data)) for row in rows}
    return {name: found.get(name, {}) for name in names}


def save_rule_state(session: Session, name: str, data: dict[str, Any]) -> None:
    """Store a named piece of rule-layer state in the caller's transaction."""
    upsert(session, RuleStateRow, [{"name": name, "data": json.dumps(data, sort_keys=True), "updated_at": utcnow()}],
           ["name"])


# -- what the rules wrote before ----------------------------------------------------------------

@dataclass
class Written:
    """The rules' own set_fields writes for some contacts: `pending`, those recorded after the mirror last heard
    from the CRM (so a re-evaluation decides on what the CRM will hold); `last`, the newest value written per
    field (so a mirror value that differs from it is a hand edit made in the CRM since)."""

    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    last: dict[str, dict[str, str]] = field(default_factory=dict)


def written_fields(session: Session, rows: list[ContactRow]) -> Written:
    """Every set_fields outbox row (not failed) of these contacts, oldest first, as pending and last values.

    A write is pending until the mirror holds a CRM version fetched after the write was performed. Both times
    are on Threadline's clock (the row's `updated_at` when it was done, the contact's `mirrored_at`), so a CRM
    whose clock differs from ours cannot make a write look reflected before it is."""
    mirrored = {r.crm_id: as_utc(r.mirrored_at or r.updated_at) for r in rows}
    written = Written()
    query = select(OutboxRow.contact_id, OutboxRow.payload, OutboxRow.status, OutboxRow.updated_at).where(
        OutboxRow.kind == "set_fields", OutboxRow.status != "failed")
    ids = sorted(mirrored)
    # Always by contact: reading every set_fields row instead grows with the portal (a streamed pass
    # would read the whole outbox once per batch).
    for start in range(0, len(ids), 500):
        chunk = query.where(col(OutboxRow.contact_id).in_(ids[start:start + 500])).order_by(col(OutboxRow.id))
        for contact_id, payload, status, changed in session.exec(chunk).all():
            fields = json.loads(payload)["fields"]
            written.last.setdefault(contact_id, {}).update(fields)
            if status != "done" or as_utc(changed) >= mirrored[contact_id]:
                written.pending.setdefault(contact_id, {}).update(fields)
    return written


# -- follow-up tasks and their SLA --------------------------------------------------------------

@dataclass(frozen=True)
class FollowUp:
    """A contact's current follow-up task from an assignment (not an escalation): its key, the assignment rule,
    when it is due, and whether the CRM has it yet."""

    key: str
    rule: str
    due_at: datetime
    created: bool
    breached: bool = False          # an escalation was already recorded after it: a follow-up breaches once


def follow_ups(session: Session, contact_ids: list[str]) -> tuple[dict[str, FollowUp], set[str]]:
    """The latest follow-up per contact (an earlier one was superseded by a reassignment; escalation tasks
    "SLA breached: ..." are not themselves subject to the SLA), and every task key the rules intended for
    these contacts (to tell whether a breach was already acted on)."""
    latest: dict[str, tuple[str, str, datetime]] = {}
    escalated: set[str] = set()            # contacts whose latest follow-up has an escalation after it
    keys: set[str] = set()
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start:start + 500]
        for key, rule, contact_id, detail in session.exec(
                select(AuditRow.effect_key, AuditRow.rule, AuditRow.contact_id, AuditRow.detail).where(
                    AuditRow.kind == "create_task", col(AuditRow.contact_id).in_(chunk))
                .order_by(col(AuditRow.id))).all():
            keys.add(key)
            task = json.loads(detail)
            if not rule.startswith("assignment:"):
                continue
            if is_escalation(task.get("subject")):
                escalated.add(contact_id)
            else:
                latest[contact_id] = (key, rule.split(":", 1)[1], datetime.fromisoformat(task["due_at"]))
                escalated.discard(contact_id)
    created = _created_tasks(session, [key for key, _, _ in latest.values()])
    return {contact: FollowUp(key, rule, due, key in created, contact in escalated)
            for contact, (key, rule, due) in latest.items()}, keys


def _created_tasks(session: Session, keys: list[str]) -> set[str]:
    done: set[str] = set()
    for start in range(0, len(keys), 500):
        done |= set(session.exec(select(OutboxRow.key).where(
            OutboxRow.kind == "create_task", OutboxRow.status == "done",
            col(OutboxRow.key).in_(keys[start:start + 500]))).all())
    return done


# -- when each contact's verdict changes next ---------------------------------------------------

def due_contacts(session: Session, now: datetime, limit: int) -> list[str]:
    """Contacts whose next time-driven change has come, soonest first: one indexed query."""
    return list(session.exec(select(RuleDueRow.crm_id).where(col(RuleDueRow.due_at) <= now)
                             .order_by(col(RuleDueRow.due_at)).limit(limit)).all())


def save_next_changes(session: Session, evaluated: Iterable[str], next_changes: dict[str, tuple[datetime, str]]) -> None:
    """Keep each evaluated contact's next change (drop the row when nothing will change without an event)."""
    gone = [crm_id for crm_id in evaluated if crm_id not in next_changes]
    for start in range(0, len(gone), 500):
        session.exec(delete(RuleDueRow).where(col(RuleDueRow.crm_id).in_(gone[start:start + 500])))
    rows = [{"crm_id": crm_id, "due_at": at, "reason": reason} for crm_id, (at, reason) in next_changes.items()]
    upsert(session, RuleDueRow, rows, ["crm_id"])


def schedule_everyone(session: Session, at: datetime, reason: str, batch: int = 5000) -> int:
    """Make every live contact due at `at` (the rule set changed); returns how many. Reads and writes
    `batch` ids at a time, in the caller's transaction, so memory stays flat however large the mirror."""
    count, after = 0, ""
    while ids := live_contact_ids_after(session, after, batch):
        upsert(session, RuleDueRow, [{"crm_id": crm_id, "due_at": at, "reason": reason} for crm_id in ids],
               ["crm_id"])
        count, after = count + len(ids), ids[-1]
    return count


# -- the mirror in bounded batches --------------------------------------------------------------

#: A rules or sequence step with more new events than this pages its contacts by keyset (the first pull).
STREAM_EVENTS = 100_000

def live_contact_ids_after(session: Session, after: str, limit: int) -> list[str]:
    """Up to `limit` live (not merged, not deleted) contact ids after `after`, in id order: one keyset page."""
    return list(session.exec(select(ContactRow.crm_id).where(
        col(ContactRow.crm_id) > after, col(ContactRow.merged_into).is_(None), col(ContactRow.deleted).is_(False))
        .order_by(col(ContactRow.crm_id)).limit(limit)).all())


def live_contact_count(session: Session) -> int:
    """How many live contacts the mirror holds (what `rules.max_share` is a share of)."""
    return int(session.exec(select(func.count()).select_from(ContactRow).where(
        col(ContactRow.merged_into).is_(None), col(ContactRow.deleted).is_(False))).one())


def contacts_with_events_in(session: Session, window: tuple[int, int], after: str, limit: int) -> list[str]:
    """Up to `limit` contact ids after `after` (id order) with an event whose seq is in (window[0], window[1]].

    Walks the events index by contact, so the whole window is read once over all pages; for a small window
    the plain seq-range query (`contacts_with_events_after`) is cheaper."""
    return list(session.exec(select(EventRow.contact_id).where(
        col(EventRow.contact_id) > after, col(EventRow.seq) > window[0], col(EventRow.seq) <= window[1])
        .distinct().order_by(col(EventRow.contact_id)).limit(limit)).all())


def newest_event_seq(session: Session) -> int:
    """The newest event's arrival number (0 with no events)."""
    return int(session.exec(select(func.max(EventRow.seq))).one() or 0)


def window_contacts(session: Session, window: tuple[int, int]) -> set[str]:
    """Contacts with an event whose seq is in (window[0], window[1]] (for a window known to be small)."""
    return set(session.exec(select(EventRow.contact_id).where(
        col(EventRow.seq) > window[0], col(EventRow.seq) <= window[1]).distinct()).all())


