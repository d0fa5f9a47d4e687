"""Decide whether a message is logged, and on which contacts. Pure: no I/O, plain data in and out.

A message is logged only when it involves a known contact and an outside party;
internal-only threads, excluded domains/addresses, auto-replies, bounces and
bulk mail are never logged (they are recorded with the reason instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from threadline.sync.mail.classify import Classification
    from threadline.sync.mail.message import ParsedMessage

#: The one skip a fuller contact mirror can change (sync/mailboxes/deferred.py).
NO_CONTACT = "no known contact among the outside parties"


@dataclass(frozen=True)
class AddressPolicy:
    """How addresses are compared and which are never logged."""

    internal_domains: frozenset[str] = frozenset()
    exclude_domains: frozenset[str] = frozenset()
    exclude_addresses: frozenset[str] = frozenset()
    plus_addressing: bool = True
    aliases: Mapping[str, str] = field(default_factory=dict)
    log_outgoing: bool = False

    def normalize(self, address: str) -> str:
        """Lower-case, drop a +tag when plus-addressing is on, then map aliases to the known address."""
        address = address.strip().lower()
        if address in self.aliases:
            return self.aliases[address]
        local, _, domain = address.rpartition("@")
        if self.plus_addressing and "+" in local:
            address = f"{local.split('+', 1)[0]}@{domain}"
        return self.aliases.get(address, address)

    def is_internal(self, address: str) -> bool:
        return _domain(address) in self.internal_domains

    def is_excluded(self, address: str) -> bool:
        return address in self.exclude_addresses or _domain(address) in self.exclude_domains


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


@dataclass(frozen=True)
class Decision:
    """What to do with one message."""

    action: Literal["log", "skip"]
    reason: str
    direction: Literal["incoming", "outgoing"] = "incoming"
    contact_ids: tuple[str, ...] = ()
    matched_by: Literal["address", "thread", ""] = ""


SKIPPED_KINDS = {"auto_reply": "auto-reply", "bounce": "bounce", "bulk": "bulk mail"}


def decide(
    message: ParsedMessage,
    classification: Classification,
    folder: str,
    mailbox_address: str,
    policy: AddressPolicy,
    contacts_for: Callable[[str], Iterable[str]],
    thread_contacts: Callable[[], Iterable[str]],
) -> Decision:
    """Decide for one message. `contacts_for(address)` looks up the mirror; `thread_contacts()` the thread's."""
    if classification.kind in SKIPPED_KINDS:
        return Decision("skip", f"{SKIPPED_KINDS[classification.kind]}: {classification.reason}")
    outgoing = folder == "sent"
    parties = {policy.normalize(a) for a in (message.from_address, *message.to, *message.cc) if a}
    parties.discard(policy.normalize(mailbox_address))
    outside = {a for a in parties if not policy.is_internal(a)}
    if not outside:
        return Decision("skip", "internal-only thread")
    counterparts = outside & {policy.normalize(a) for a in (message.to + message.cc if outgoing else (message.from_address,))}
    if not outgoing and policy.is_excluded(policy.normalize(message.from_address)):
        return Decision("skip", "sender is excluded by sync.exclude_domains/exclude_addresses")
    counterparts = {a for a in counterparts if not policy.is_excluded(a)}
    if outgoing and not policy.log_outgoing:
        return Decision("skip", "outgoing mail is not logged (sync.log_outgoing is off)", "outgoing")
    direction: Literal["incoming", "outgoing"] = "outgoing" if outgoing else "incoming"
    by_address = sorted({cid for a in counterparts for cid in contacts_for(a)})
    if by_address:
        return Decision("log", "matched by address", direction, tuple(by_address), "address")
    if not outgoing and counterparts:
        by_thread = sorted(set(thread_contacts()))
        if by_thread:
            return Decision("log", "matched by thread", direction, tuple(by_thread), "thread")
    return Decision("skip", NO_CONTACT, direction)
