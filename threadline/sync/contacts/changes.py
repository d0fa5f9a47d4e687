"""Contact changes as events: created, a field changed (old -> new), owner changed. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from threadline.adapters.records import CrmContact
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.tables import ContactRow


def contact_events(old: ContactRow | None, new: CrmContact, *, unsubscribe_field: str | None = None) -> list[Event]:
    """What changed between the mirror row and the CRM's record, as events stamped with the CRM's update time."""
    if new.deleted or new.merged_into:
        return []
    stamp = new.updated_at.isoformat()
    if old is None:
        return [Event(id=event_id("contact.created", new.id), type="contact.created", contact_id=new.id,
                      occurred_at=new.updated_at, source="crm", data={})]
    events: list[Event] = []
    if (old.owner_id or None) != (new.owner_id or None):
        events.append(Event(id=event_id("owner.changed", new.id, stamp), type="owner.changed", contact_id=new.id,
                            occurred_at=new.updated_at, source="crm", data={"old": old.owner_id, "new": new.owner_id}))
    before: Mapping[str, Any] = json.loads(old.properties or "{}")
    for field, value in new.properties.items():
        if before.get(field) == value:
            continue
        data = {"field": field, "old": before.get(field), "new": value}
        events.append(Event(id=event_id("contact.updated", new.id, field, str(value), stamp), type="contact.updated",
                            contact_id=new.id, occurred_at=new.updated_at, source="crm", data=data))
        if field == unsubscribe_field and str(value).lower() in ("true", "1", "yes"):
            events.append(Event(id=event_id("unsubscribed", new.id, stamp), type="unsubscribed", contact_id=new.id,
                                occurred_at=new.updated_at, source="crm", data={"channel": "email", "via": "crm"}))
    return events
