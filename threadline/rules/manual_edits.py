"""Hand edits in the CRM of the fields the scoring writes (score, fit, intent, tier, stage).

A field's mirror value differs from the value the rules last wrote there: someone changed it in the CRM
since (the next CRM pull recorded it as a `contact.updated` event). `rules.manual_edits.policy` decides:

- **overwrite** (the default): the rules own their fields. The rules' value is written back once, and the
  audit reason says which manual edit it overwrote.
- **pin**: the hand-set value stays until one of `rules.manual_edits.until` happens to the contact after the
  edit; then the rules' value is written once more and the field is the rules' again.

Either way nothing flaps: a write carries the newest event's id in its key, so it is made once per change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import SetFields, effect_key
from threadline.rules.scoring.write import same_value
from threadline.rules.settings import ManualEdits

EventRow = tuple[str, str, datetime, str, Mapping[str, Any]]


def hand_edits(effect: SetFields, facts: ContactFacts, events: Sequence[EventRow], last_written: Mapping[str, str],
               settings: ManualEdits, now: datetime) -> SetFields | None:
    """The scoring write as the policy has it: unchanged, with a note on each hand edit it overwrites, or
    without the pinned fields (None when nothing is left to write)."""
    edited = {name: facts.fields.get(name) for name in effect.fields
              if name in last_written and not same_value(facts.fields.get(name), last_written[name])}
    if not edited:
        return effect
    # Each edit is its own change: the write answering it is keyed by the edit, so a second edit to the same
    # value the rules hold is answered again, and a repeated evaluation of one edit is not.
    edits = {name: _latest_edit(name, events) for name in edited}
    if settings.policy == "overwrite":
        notes = "; ".join(f"overwrote a manual edit of {name} ({last_written[name]} -> {value!s} in the CRM)"
                          for name, value in edited.items())
        return _rekeyed(effect, facts, dict(effect.fields), [e[0] for e in edits.values() if e],
                        f"{effect.reason}; {notes}")
    released = {name: why for name in edited if (why := _release(edits[name], events, settings.until, now))}
    pinned = [name for name in edited if name not in released]
    fields = {name: value for name, value in effect.fields.items() if name not in pinned}
    if not fields:
        return None
    notes = "; ".join(f"manual edit of {name} released by {why[1]}" for name, why in released.items())
    reason = effect.reason + (f"; {notes}" if notes else "") + \
        (f"; pinned by a manual edit: {', '.join(pinned)}" if pinned else "")
    return _rekeyed(effect, facts, fields, [why[0] for why in released.values()], reason)


def _rekeyed(effect: SetFields, facts: ContactFacts, fields: dict[str, str], causes: list[str],
             reason: str) -> SetFields:
    identity = sorted(f"{name}={value}" for name, value in fields.items())
    return effect.model_copy(update={
        "fields": fields, "previous": {name: effect.previous.get(name) for name in fields}, "reason": reason,
        "key": effect_key("set_fields", facts.id, *identity, *sorted(causes))})


def _latest_edit(name: str, events: Sequence[EventRow]) -> tuple[str, datetime] | None:
    """The id and time of the newest `contact.updated` event of this field (the CRM pull recorded it)."""
    edits = [(at, event_id) for event_id, type_, at, _, data in events
             if type_ == "contact.updated" and data.get("field") == name]
    if not edits:
        return None
    at, event_id = max(edits)
    return event_id, at


def _release(edit: tuple[str, datetime] | None, events: Sequence[EventRow], until: Sequence[str],
             now: datetime) -> tuple[str, str] | None:
    """The event (id, type) after the field's latest edit in the CRM that releases the pin, if any."""
    if edit is None:
        return None
    return next(((event_id, type_) for event_id, type_, at, _, _ in events
                 if type_ in until and edit[1] < at <= now), None)
