"""Stop rules: what pauses or ends an enrollment, decided from the contact's events and fields.

Everything here is conservative in one direction: a reply, bounce or unsubscribe is honoured
whatever its timestamp says relative to ``now`` (clock skew between a mailbox and us must never
let a send through), while a pause only ends when its time has really passed.

A reply answers an enrollment only if it came after the enrolment. Its time alone cannot always
say so (mail dates have whole seconds, mailbox clocks drift), so the runner records, with each
enrolment, which stored replies were already there: those belong to an earlier conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from threadline.rules.sequences.enrollment import Enrollment
from threadline.sync.events.records import Event, event_id

#: Events that end every sequence for the contact whenever they happened (the address is unusable).
ALWAYS_EXIT = {"unsubscribed": "unsubscribed", "bounce.received": "bounced"}
#: Events that end the enrollment when they happen after enrolment.
EXIT_AFTER_ENROLMENT = {"meeting.booked": "meeting"}
MANUAL_STOP, MANUAL_RESUME = "sequence.stopped", "sequence.resumed"
#: The runner's note that a stored reply predates an enrolment (data: sequence, generation, reply event id).
REPLY_BEFORE_ENROLMENT = "reply.before_enrolment"
RUNNER_SOURCE = "sequences"


def _for_sequence(event: Event, sequence: str) -> bool:
    return event.data.get("sequence", "*") in ("*", sequence)


def hard_stop(enrollment: Enrollment, events: Sequence[Event], exit_on_meeting: bool = True) -> str | None:
    """The exit reason from events that end the enrollment outright (unsubscribe, bounce, manual, and a meeting
    unless the sequence keeps going after one)."""
    for event in events:
        if event.type in ALWAYS_EXIT:
            return ALWAYS_EXIT[event.type]
        if event.occurred_at < enrollment.enrolled_at:
            continue
        if event.type in EXIT_AFTER_ENROLMENT and exit_on_meeting:
            return EXIT_AFTER_ENROLMENT[event.type]
        if event.type == MANUAL_STOP and _for_sequence(event, enrollment.sequence):
            return "manual"
    return None


def _after_by_time(enrollment: Enrollment, reply: Event) -> bool:
    # Mail dates have whole seconds: a reply stamped in the second of enrolment may have come after it.
    return reply.occurred_at >= enrollment.enrolled_at.replace(microsecond=0)


def replies_before_enrolment(enrollment: Enrollment, held: Sequence[Event]) -> list[Event]:
    """Notes for the replies in ``held`` (the contact's events stored when it is being enrolled) that their
    time alone would count as after the enrolment: stamped in its second, or by a mailbox clock ahead of ours.
    Recorded with the enrolment, they keep those replies from ever stopping it, so the outcome depends on
    what the store held, not on where in a second the enrolment fell. Stable ids: recording twice is a no-op."""
    generation = str(enrollment.generation)
    return [Event(id=event_id(REPLY_BEFORE_ENROLMENT, reply.id, enrollment.sequence, generation),
                  type=REPLY_BEFORE_ENROLMENT, contact_id=enrollment.contact_id, occurred_at=enrollment.enrolled_at,
                  source=RUNNER_SOURCE, data={"sequence": enrollment.sequence,
                                              "generation": enrollment.generation, "reply": reply.id})
            for reply in held if reply.type == "reply.received" and _after_by_time(enrollment, reply)]


def _held_at_enrolment(enrollment: Enrollment, events: Sequence[Event]) -> set[str]:
    """Ids of the replies the runner noted as predating this enrollment (only its own notes count)."""
    return {str(e.data.get("reply")) for e in events
            if e.type == REPLY_BEFORE_ENROLMENT and e.source == RUNNER_SOURCE
            and e.data.get("sequence") == enrollment.sequence and e.data.get("generation") == enrollment.generation}


def unresumed_reply(enrollment: Enrollment, events: Sequence[Event]) -> Event | None:
    """The latest reply after enrolment that no manual resume came after, else None. A reply counts when the
    store did not hold it at enrolment and its stamp is not in an earlier second than the enrolment."""
    held = _held_at_enrolment(enrollment, events)
    replies = [e for e in events if e.type == "reply.received" and e.id not in held and _after_by_time(enrollment, e)]
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


def stop_reason(enrollment: Enrollment, events: Sequence[Event], now: datetime,
                exit_on_meeting: bool = True) -> str | None:
    """Why nothing may be sent for this enrollment right now, or None when sending is allowed.

    The sender calls this immediately before every send with the contact's freshest events:
    "replied", "unsubscribed", "bounced", "meeting", "manual", "exited"/"completed" (already over)
    or "paused". A reply counts from the moment of enrolment regardless of ``now``.
    """
    if enrollment.status in ("exited", "completed"):
        return enrollment.status
    reason = hard_stop(enrollment, events, exit_on_meeting)
    if reason is not None:
        return reason
    if unresumed_reply(enrollment, events) is not None:
        return "replied"
    if enrollment.status == "paused" and (enrollment.paused_until is None or enrollment.paused_until > now):
        return "paused"
    return None
