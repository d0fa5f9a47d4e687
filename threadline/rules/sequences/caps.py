"""Per-mailbox daily caps and spacing: which due sends go out now and which wait."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from threadline.rules.sequences.steps import DueStep


@dataclass(frozen=True)
class SendLimits:
    """A sequence's limits on each mailbox it sends from."""

    daily_cap: int = 50
    spacing_minutes: float = 2


def apply_mailbox_caps(
    due: Sequence[DueStep], sent_today: Mapping[str, int], mailbox_of: Callable[[str], str],
    limits: Mapping[str, SendLimits], now: datetime,
    last_sent_at: Mapping[str, datetime] | None = None,
) -> tuple[list[DueStep], list[DueStep]]:
    """Split due email steps into (send now, deferred), in due order (ties by key, so stable).

    A mailbox (``mailbox_of(contact_id)``) sends at most its sequence's ``daily_cap`` per day
    (``sent_today`` counts what already went out) and at most one message per ``spacing_minutes``
    (``last_sent_at`` is its latest send). A step deferred for spacing gets ``due_at`` set to its
    slot; one deferred by the cap keeps its ``due_at`` (it waits for tomorrow's count). Tasks are
    not mail and always pass.
    """
    counts = dict(sent_today)
    next_free = {box: at for box, at in (last_sent_at or {}).items()}
    send: list[DueStep] = []
    deferred: list[DueStep] = []
    for step in sorted(due, key=lambda s: (s.due_at, s.key)):
        if step.kind != "email":
            send.append(step)
            continue
        box, rule = mailbox_of(step.contact_id), limits.get(step.sequence, SendLimits())
        spacing = timedelta(minutes=rule.spacing_minutes)
        if counts.get(box, 0) >= rule.daily_cap:
            deferred.append(step)
            continue
        slot = next_free[box] + spacing if box in next_free else now
        counts[box] = counts.get(box, 0) + 1
        next_free[box] = max(slot, now)
        if slot <= now:
            send.append(step)
        else:
            deferred.append(replace(step, due_at=max(slot, step.due_at)))
    return send, deferred
