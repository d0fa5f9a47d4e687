"""Who a sequence email comes from and what its send_email outbox row holds.

The row's payload is the contract with the send executor: the OutgoingEmail is complete (our
Message-ID, From, To, unsubscribe headers, threading) so the executor only has to hand it over.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.adapters.sending import OutgoingEmail, sequence_message_id
from threadline.rules.sequences import DueStep, SequenceSettings, step_key
from threadline.rules.sequences.unsubscribe_links import list_unsubscribe_headers
from threadline.sync.store.tables import OutboxRow


@dataclass(frozen=True)
class SendingMailbox:
    """A configured mailbox as the sequence runner sees it: whose it is and whether it can send."""

    address: str
    owner_id: str | None
    display_name: str | None = None
    timezone: str | None = None
    can_send: bool = True          # False: an IMAP mailbox without smtp_host


class Senders:
    """Picks the mailbox a contact's sequence email goes from, and the owner context templates see.

    ``owner_names`` (owner id -> name, e.g. from the CRM) is called at most once, and only when a
    mailbox without a display name needs a name.
    """

    def __init__(self, mailboxes: Sequence[SendingMailbox],
                 owner_names: Callable[[], Mapping[str, str]] | None = None) -> None:
        self._by_owner: dict[str, SendingMailbox] = {}
        for box in mailboxes:
            if box.owner_id:
                # A sending-capable mailbox wins over one that can only read, whatever the config order.
                current = self._by_owner.get(box.owner_id)
                if current is None or (box.can_send and not current.can_send):
                    self._by_owner[box.owner_id] = box
        self._by_address = {box.address.lower(): box for box in mailboxes}
        self._owner_names = owner_names
        self._names: Mapping[str, str] | None = None

    def mailbox_for(self, owner_id: str | None, sequence: SequenceSettings, contact_id: str) -> SendingMailbox | str:
        """The owner's mailbox, else the sequence's ``from_mailbox``; a str says why there is none to send from."""
        box = self._by_owner.get(owner_id or "")
        if box is None and sequence.from_mailbox:
            box = self._by_address.get(sequence.from_mailbox.lower())
            if box is None:
                return f"sequence {sequence.name}: from_mailbox {sequence.from_mailbox} is not a configured mailbox"
        if box is None:
            return f"contact {contact_id}'s owner {owner_id or '(none)'} has no connected mailbox"
        if not box.can_send:
            return f"mailbox {box.address} cannot send (an IMAP mailbox needs smtp_host)"
        return box

    def owner_mailbox(self, owner_id: str | None) -> SendingMailbox | None:
        return self._by_owner.get(owner_id or "")

    def name_of(self, owner_id: str | None) -> str | None:
        if not owner_id or self._owner_names is None:
            return None
        if self._names is None:
            self._names = dict(self._owner_names())
        return self._names.get(owner_id)

    def owner_context(self, box: SendingMailbox | None, owner_id: str | None) -> dict[str, str] | None:
        """``owner`` for templates: the sending mailbox's owner (else the contact's owner); None when neither."""
        owner = box.owner_id if box is not None and box.owner_id else owner_id
        if box is None and not owner:
            return None
        local = box.address.split("@", 1)[0] if box is not None else ""
        name = (box.display_name if box is not None else None) or self.name_of(owner) or local
        return {"id": owner or "", "email": box.address if box is not None else "", "name": name,
                "first_name": name.split()[0] if name.split() else ""}


def previous_send_keys(due: DueStep) -> list[str]:
    """Keys of the earlier steps of the same enrollment, nearest first (where a reply in thread looks)."""
    return [step_key(due.sequence, due.contact_id, due.generation, index) for index in range(due.step_index - 1, -1, -1)]


def thread_of(due: DueStep, done: Mapping[str, OutboxRow]) -> dict[str, Any]:
    """In-Reply-To, References and the provider thread of the nearest earlier email that was sent."""
    if not due.thread_reply:
        return {}
    for key in previous_send_keys(due):
        row = done.get(key)
        if row is None or row.kind != "send_email" or row.status != "done":
            continue
        payload = json.loads(row.payload)
        previous = payload["email"]
        return {"in_reply_to": previous["message_id"],
                "references": (*previous.get("references", ()), previous["message_id"]),
                "thread_id": (payload.get("sent") or {}).get("thread_id")}
    return {}


def send_payload(due: DueStep, box: SendingMailbox, from_name: str, to: str,
                 unsubscribe: str, thread: Mapping[str, Any]) -> dict[str, Any]:
    """The send_email row's payload (see the sequences contract): the step and a complete OutgoingEmail."""
    domain = box.address.rsplit("@", 1)[-1]
    email = OutgoingEmail(key=due.key, message_id=sequence_message_id(due.key, domain), from_address=box.address,
                          from_name=from_name, to=(to,), subject=due.subject, text=due.body,
                          headers=list_unsubscribe_headers(unsubscribe), **thread)
    # next_step: where the enrolment goes once this is sent (a branch's `then` may skip ahead); None: the end.
    return {"sequence": due.sequence, "generation": due.generation, "step_index": due.step_index,
            "last_step": due.next_step is None, "next_step": due.next_step, "variant": due.variant,
            "mailbox": box.address, "email": email.model_dump(mode="json")}
