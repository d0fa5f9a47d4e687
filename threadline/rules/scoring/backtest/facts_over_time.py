"""A contact's facts as they were over time, rebuilt from the current ones and its recorded field changes. Pure.

The daemon scores a contact with its facts as they are when it scores: an `industry` filled in on day 30 counts
from then on, for the contact's earlier events too (a rescore reads every event again). A backtest that judged
every moment on today's facts would have that contact cross the threshold on day 5 instead. So the replay
splits the contact's timeline where a field the rules read changed, and judges each stretch on the facts of
that stretch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.compiled import EventRow

#: (from when, the facts from then on); the first stretch starts with the contact (None).
Stretch = tuple[datetime | None, ContactFacts]


def facts_over_time(contact: ContactFacts, rows: Iterable[EventRow], fields: frozenset[str]) -> list[Stretch]:
    """The stretches of ``contact``'s history with the facts of each, oldest first. Only changes to ``fields``
    split it: `contact.updated` (``{"field", "old", "new"}``) and `owner.changed` (``owner_id``). Built
    backwards from the current facts by undoing each change, newest first, so a field the mirror holds but no
    event names keeps its current value throughout. A contact without such changes has one stretch."""
    changes: list[tuple[datetime, str, Any]] = []
    for _id, type_, at, _source, data in rows:
        name = _changed_field(type_, data)
        if name is not None and name in fields:
            changes.append((at, name, data.get("old")))
    if not changes:
        return [(None, contact)]
    changes.sort(key=lambda change: change[0], reverse=True)
    now = dict(contact.fields)
    stretches: list[Stretch] = []
    index = 0
    while index < len(changes):
        moment = changes[index][0]
        before = dict(now)
        while index < len(changes) and changes[index][0] == moment:
            _, name, old = changes[index]
            before[name] = old
            index += 1
        if before != now:
            stretches.append((moment, ContactFacts(contact.id, now)))
            now = before
    stretches.append((None, ContactFacts(contact.id, now)))
    stretches.reverse()
    return stretches


def _changed_field(type_: str, data: Any) -> str | None:
    if type_ == "contact.updated":
        field = data.get("field")
        return field if isinstance(field, str) else None
    if type_ == "owner.changed":
        return "owner_id"
    return None
