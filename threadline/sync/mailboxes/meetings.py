"""What a meeting message (an iMIP response or invitation, sync/mail/calendar_reply.py) decides and records.

It is never logged as an email activity. From a known contact it is recorded with decision ``meeting`` and its
reason, and the meeting event goes to the contacts who responded (REPLY: the replying ATTENDEE; REQUEST/CANCEL:
the ORGANIZER), falling back to the sender's own contacts when that address is not one (an alias, an assistant
answering for the prospect). Event ids come from the meeting (UID and occurrence) and the contact, not the
message: Google's inline part and its invite.ics, the same response read again or seen in two mailboxes, all
record one event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from threadline.sync.events.records import Event, event_id
from threadline.sync.mail.calendar_reply import RESPONSE_WORDS, CalendarResponse
from threadline.sync.mail.matching import AddressPolicy, Decision


def meeting_decision(response: CalendarResponse, decision: Decision, policy: AddressPolicy,
                     contacts_for: Callable[[str], Iterable[str]]) -> Decision:
    """What to record for a meeting message that `decide` judged as mail (`decision`). Never "log": a meeting
    message is not an email activity. A skip `decide` made (no contact, internal, excluded) stands; mail the
    mailbox sent is not the prospect's response. Otherwise the skip carries the contacts the meeting event goes
    to (see `meeting_contacts`), or says that none of the responders is a contact."""
    if decision.action != "log":
        return decision
    if decision.direction == "outgoing":
        return Decision("skip", f"{response.describe()}: sent from this mailbox, not logged as an email",
                        "outgoing")
    contacts = meeting_contacts(response, decision, policy, contacts_for)
    if not contacts:
        return Decision("skip", f"{response.describe()}: no responder is a known contact "
                                f"(the message was {decision.reason})")
    return Decision("skip", response.describe(), "incoming", contacts, "address")


def meeting_contacts(response: CalendarResponse, decision: Decision, policy: AddressPolicy,
                     contacts_for: Callable[[str], Iterable[str]]) -> tuple[str, ...]:
    """Contacts of the responders (REPLY: replying attendees; REQUEST/CANCEL: the organizer); else, when the
    sender was matched by address (an alias of the attendee, an assistant), the sender's contacts. A match by
    thread alone (a colleague answering an invitation the prospect also got) gives none: it is not the
    contact's own response."""
    people = [a for a, _ in response.attendees] if response.method == "REPLY" else [response.organizer or ""]
    found: set[str] = set()
    for address in people:
        normal = policy.normalize(address) if address else ""
        if normal and not policy.is_internal(normal) and not policy.is_excluded(normal):
            found.update(contacts_for(normal))
    if found:
        return tuple(sorted(found))
    return decision.contact_ids if decision.matched_by == "address" else ()


def meeting_events(response: CalendarResponse, contacts: Iterable[str], at: datetime, source: str,
                   data: dict[str, object]) -> list[Event]:
    """One event of `response.event_type` per contact, identified by the meeting (UID, occurrence) and the
    contact; `data` (mailbox, subject, message id) is completed with the meeting's details."""
    kind = response.event_type
    details: dict[str, object] = {
        **data, "uid": response.uid, "recurrence_id": response.recurrence_id, "method": response.method,
        "response": RESPONSE_WORDS.get(response.partstat or "", response.method.lower()),
        "starts_at": response.starts_at.isoformat() if response.starts_at else None,
        "summary": response.summary, "organizer": response.organizer, "comment": response.comment}
    return [Event(id=event_id(kind, "imip", response.uid, response.recurrence_id or "", contact), type=kind,
                  contact_id=contact, occurred_at=at, source=source, data=details)
            for contact in dict.fromkeys(contacts)]
