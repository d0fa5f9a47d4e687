"""Handoff metrics, part 2: the SLA outcome of each follow-up task an assignment created (the first one, and
any after a reassignment).

- kept: the task was seen completed (`task.completed` for its key) at or before its due time;
- breached: a breach was recorded for it (the reassignment or escalation breach.py writes), or it was
  completed after its due time, or it is still open and `now` is past its due time;
- open: still open and not due yet.

Escalation tasks ("SLA breached: ...") are not follow-ups and have no outcome of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from threadline.rules.assignment.breach import breach_keys
from threadline.rules.assignment.handoff import RuleWrite
from threadline.sync.events.records import Event

SlaOutcome = Literal["kept", "breached", "open"]


@dataclass(frozen=True)
class FollowUpTask:
    """A follow-up task for `owner_id`, due at `due_at`; `completed_at` when it was seen completed."""

    contact_id: str
    key: str
    owner_id: str
    created_at: datetime
    due_at: datetime
    completed_at: datetime | None = None
    breach_recorded: bool = False

    def outcome(self, now: datetime) -> SlaOutcome:
        """Kept, breached or open as of `now` (see the module docstring)."""
        if self.breach_recorded:
            return "breached"
        if self.completed_at is not None:
            return "kept" if self.completed_at <= self.due_at else "breached"
        return "breached" if now > self.due_at else "open"


def follow_up_tasks(writes: Sequence[RuleWrite], events: Iterable[Event]) -> list[FollowUpTask]:
    """Every follow-up task in `writes` (recording order), with its completion from `events` and whether a
    breach of it was recorded (by the breach's effect keys, for the task's owner or an unowned mirror)."""
    completed: dict[str, datetime] = {}
    for event in events:
        key = event.data.get("key") if event.type == "task.completed" else None
        if key and (key not in completed or event.occurred_at < completed[key]):
            completed[str(key)] = event.occurred_at
    recorded = {write.key for write in writes}
    tasks = []
    for write in writes:
        if not write.is_follow_up or not write.effect.get("owner_id") or not write.effect.get("due_at"):
            continue
        owner, due = str(write.effect["owner_id"]), _aware(str(write.effect["due_at"]))
        breached = bool((breach_keys(write.contact_id, due, owner) | breach_keys(write.contact_id, due, None))
                        & recorded)
        tasks.append(FollowUpTask(write.contact_id, write.key, owner, write.at, due, completed.get(write.key),
                                  breached))
    return tasks


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
