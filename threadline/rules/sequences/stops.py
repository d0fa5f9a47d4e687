"""Stop rules: what pauses or ends an enrollment, decided from the contact's events and fields.

Everything here is conservative in one direction: a reply, bounce or unsubscribe is honoured
whatever its timestamp says relative to ``now`` (clock skew between a mailbox and us must never
let a send through), while a pause only ends when its time has really passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from threadline.rules.events import Event
from threadline.rules.sequences.enrollment import Enrollment

#: Events that end every sequence for the contact whenever they happened (the address is unusable).
ALWAYS_EXIT = {"unsubscribed": "unsubscribed", "bounce.received": "bounced"}
#: Events that end the enrollment when they happen after enrolment.
EXIT_AFTER_ENROLMENT = {"meeting.booked": "meeting"}
MANUAL_STOP, MANUAL_RESUME = "sequence.stopped", "sequence.resumed"


def _for_sequence(event: Event, sequence: str) -> bool:
    return event.data.get("sequence", "*") in ("*", sequence)


def hard_stop(enrollment: Enrollment, events: Sequence[Event]) -> str | None:
    """The exit reason from events that end the enrollment outright (unsubscribe, bounce, meeting, manual)."""
    for event in events:
        if event.type in ALWAYS_EXIT:
            return ALWAYS_EXIT[event.type]
        if event.occurred_at < enrollment.enrolled_at:
            continue
        if event.type in EXIT_AFTER_ENROLMENT:
            return EXIT_AFTER_ENROLMENT[event.type]
        if event.type == MANUAL_STOP and _for_sequence(event, enrollment.sequence):
            return "manual"
    return None


def unresumed_reply(enrollment: Enrollment, events: Sequence[Event]) -> Event | None:
    """The latest reply after enrolment that no manual resume came after, else None."""
    # Mail dates have whole seconds: a reply stamped in the second of enrolment counts as after it.
    since = enrollment.enrolled_at.replace(microsecond=0)
    replies = [e for e in events if e.type == "reply.received" and e.occurred_at >= since]
    if not replies:
        return None
    reply = max(replies, key=lambda event: event.occurred_at)
    resumed = any(e.type == MANUAL_RESUME and _for_sequence(e, enrollment.sequence)
                  and e.occurred_at > reply.occurred_at for e in events)
    return None if resumed else reply


def ooo_until(enrollment: Enrollment, events: Sequence[Event], zone: ZoneInfo, default_days: float) -> datetime | None:
    """When the latest out-of-office since enrolment ends: the start of its return date in the contact's
    zone when readable, else ``default_days`` after it arrived. None without an out-of-office."""
    autos = [e for e in events if e.type == "auto_reply.received" and e.occurred_at >= enrollment.enrolled_at]
    if not autos:
        return None
    latest = max(autos, key=lambda event: event.occurred_at)
    returns = _parse_date(latest.data.get("return_date"))
    if returns is not None and datetime.combine(returns, time(0), tzinfo=zone) > latest.occurred_at:
        return datetime.combine(returns, time(0), tzinfo=zone)
    return latest.occurred_at + timedelta(days=default_days)


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def stop_reason(enrollment: Enrollment, events: Sequence[Event], now: datetime) -> str | None:
    """Why nothing may be sent for this enrollment right now, or None when sending is allowed.

    The sender calls this immediately before every send with the contact's freshest events:
    "replied", "unsubscribed", "bounced", "meeting", "manual", "exited"/"completed" (already over)
    or "paused". A reply counts from the moment of enrolment regardless of ``now``.
    """
    if enrollment.status in ("exited", "completed"):
        return enrollment.status
    reason = hard_stop(enrollment, events)
    if reason is not None:
        return reason
    if unresumed_reply(enrollment, events) is not None:
        return "replied"
    if enrollment.status == "paused" and (enrollment.paused_until is None or enrollment.paused_until > now):
        return "paused"
    return None
