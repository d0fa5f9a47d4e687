"""The rule layer's shared reads and writes: contact facts from the mirror, effects as outbox intents and
audit rows, and named rule state. Decisions stay pure; this is where they meet the store."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, Effect, SetFields
from threadline.sync.outbox.rows import Intent
from threadline.sync.store.tables import ContactRow, RuleStateRow, utcnow
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


def save_rule_state(session: Session, name: str, data: dict[str, Any]) -> None:
    """Store a named piece of rule-layer state in the caller's transaction."""
    upsert(session, RuleStateRow, [{"name": name, "data": json.dumps(data, sort_keys=True), "updated_at": utcnow()}],
           ["name"])
