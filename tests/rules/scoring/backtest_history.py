"""A simulated history for backtest tests: ~40 contacts over ~10 weeks, events at known times on a 4-hour grid
(so the daemon, stepping every 4 hours, sees each event at the moment it happened), and two rule sets. About
a third of the contacts get their industry (which the rules read) only later, from enrichment or a
reclassification, as `contact.updated` events."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow

DAY0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=4)
DAYS = 70
CONTACTS = 40
ENRICHED = 0.35          # share of contacts whose industry the CRM learns after day 0

CURRENT: dict[str, Any] = {
    "custom_events": ["page.visited", "form.submitted"],
    "rules": [
        {"name": "pricing-page", "event": "page.visited", "where": {"event.url": {"contains": "/pricing"}},
         "points": 10, "cap": 30},
        {"name": "demo-request", "event": "form.submitted", "where": {"event.form": "demo"}, "points": 25},
        {"name": "replied", "event": "reply.received", "points": 20, "cap": 40},
        {"name": "meeting-booked", "event": "meeting.booked", "points": 30},
        {"name": "target-industry", "event": "contact.created", "where": {"contact.industry": {"in": ["SaaS"]}},
         "points": 15, "dimension": "fit"},
    ],
    "resets": [{"event": "unsubscribed"}],
    "decay": {"points": -5, "every_days": 30},
    "tiers": [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "mql", "min": 50}],
    "stages": [{"at_least": 20, "value": "lead"}, {"at_least": 50, "value": "marketingqualifiedlead"}],
}
#: The proposed change: pricing counts more and twice in a week more still, case studies count, decay is faster.
PROPOSED: dict[str, Any] = {
    **CURRENT,
    "rules": [
        {"name": "pricing-page", "event": "page.visited", "where": {"event.url": {"contains": "/pricing"}},
         "points": 12, "cap": 36},
        {"name": "pricing-twice", "event": "page.visited", "where": {"event.url": {"contains": "/pricing"}},
         "points": 10, "window": {"count": 2, "days": 7}},
        {"name": "case-study", "event": "page.visited", "where": {"event.url": {"contains": "/case-studies/"}},
         "points": 8, "cap": 24},
        *CURRENT["rules"][1:],
    ],
    "decay": {"points": -10, "every_days": 14},
    "tiers": [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "mql", "min": 45}],
}

ACTIONS: list[tuple[str, dict[str, Any], int]] = [("page.visited", {"url": "https://northwind.example/pricing"}, 30),
           ("page.visited", {"url": "https://northwind.example/case-studies/acme"}, 20),
           ("form.submitted", {"form": "demo"}, 6),
           ("reply.received", {"text": "Sounds good"}, 8),
           ("meeting.booked", {"title": "Intro"}, 4),
           ("unsubscribed", {"channel": "email", "via": "link"}, 1),
           ("contact.updated", {"field": "lifecyclestage", "old": "lead", "new": "salesqualifiedlead"}, 2),
           ("contact.updated", {"field": "num_associated_deals", "old": None, "new": "1"}, 2),
           ("deal.created", {"deal": "d1"}, 1)]


@dataclass
class History:
    """The contacts (id -> properties) and their events in time order."""

    contacts: dict[str, dict[str, Any]]
    events: list[Event] = field(default_factory=list)

    def at(self, moment: datetime) -> list[Event]:
        return [e for e in self.events if e.occurred_at == moment]


def simulate(seed: int = 4, contacts: int = CONTACTS, days: int = DAYS) -> History:
    """Each contact is created on day 0 and then, per 4-hour slot, acts with a small chance (busier contacts
    more often), so some cross the thresholds early, some late, some decay out and come back."""
    rng = random.Random(seed)
    history = History({f"c{n:02d}": {"industry": rng.choice(["SaaS", "Retail"])} for n in range(contacts)})
    weights = [weight for *_, weight in ACTIONS]
    for contact in history.contacts:
        history.events.append(_event(contact, "contact.created", DAY0, {}, 0))
        busy = rng.choice([0.002, 0.01, 0.03, 0.06])
        for slot in range(1, days * 6 + 1):
            if rng.random() < busy:
                type_, data, _ = rng.choices(ACTIONS, weights)[0]
                history.events.append(_event(contact, type_, DAY0 + slot * STEP, data, slot))
    enrichment = random.Random(seed + 5)          # its own stream: the actions above stay as they were
    for contact, props in history.contacts.items():
        if enrichment.random() < ENRICHED:
            slot = enrichment.randrange(1, days * 6)
            old = None if enrichment.random() < 0.6 else ("Retail" if props["industry"] == "SaaS" else "SaaS")
            history.events.append(Event(
                id=event_id("contact.updated", contact, "industry", str(slot)), type="contact.updated",
                contact_id=contact, occurred_at=DAY0 + slot * STEP, source="crm",
                data={"field": "industry", "old": old, "new": props["industry"]}))
    history.events.sort(key=lambda e: (e.occurred_at, e.contact_id))
    return history


def initial_contacts(history: History) -> dict[str, dict[str, Any]]:
    """The contacts' properties on day 0: the current ones with every recorded change undone."""
    contacts = {cid: dict(props) for cid, props in history.contacts.items()}
    for e in reversed(history.events):
        if e.type == "contact.updated" and e.data["field"] in contacts[e.contact_id]:
            contacts[e.contact_id][e.data["field"]] = e.data["old"]
    return contacts


def apply_changes(store: Store, events: list[Event]) -> None:
    """What the CRM pull does with a changed field the mirror holds: the row takes the new value (the events
    themselves are recorded by `add_events`)."""
    changed = [e for e in events if e.type == "contact.updated" and e.data["field"] == "industry"]
    if not changed:
        return
    with store.session() as session:
        for e in changed:
            row = session.get(ContactRow, e.contact_id)
            assert row is not None
            props = json.loads(row.properties or "{}")
            props[e.data["field"]] = e.data["new"]
            row.properties = json.dumps(props)
            session.add(row)
        session.commit()


def _event(contact: str, type_: str, at: datetime, data: dict[str, Any], slot: int) -> Event:
    return Event(id=event_id(type_, contact, str(slot)), type=type_, contact_id=contact, occurred_at=at,
                 source="api", data=data)


def add_contacts(store: Store, history: History, *, as_on_day0: bool = False) -> None:
    """The contacts as mirror rows (the CRM side is never asked for anything): as they are now, or as they were
    on day 0 (for a run that then applies the changes as they happen)."""
    contacts = initial_contacts(history) if as_on_day0 else history.contacts
    with store.engine.begin() as connection:
        connection.execute(insert(ContactRow.__table__), [  # type: ignore[attr-defined]
            {"crm_id": cid, "object_type": "contact", "primary_email": f"{cid}@example.com", "first_name": "Pat",
             "last_name": cid, "company": "Acme", "owner_id": None, "updated_at": DAY0, "merged_into": None,
             "deleted": False, "properties": json.dumps(props)} for cid, props in contacts.items()])


def add_events(store: Store, events: list[Event]) -> None:
    with store.session() as session:
        record_events(session, events)
