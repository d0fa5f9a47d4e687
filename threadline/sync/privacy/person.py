"""Who a forget request is about: every address and CRM record of the person an address belongs to.

A person is more than the address typed: the contact it belongs to may have several addresses, a duplicate
record may share one, a record merged away points at the one that survives, and mail may carry the address
with a +tag or under an alias (AddressPolicy.normalize). All of those are the same person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

from sqlmodel import Session, col, select

from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.privacy.suppression import address_digests, pending_records
from threadline.sync.store.tables import ContactAddressRow, ContactRow

#: An address inside free text (JSON payloads, error messages): close enough to RFC 5322 for what mail carries.
ADDRESS_IN_TEXT = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED = "[forgotten]"
_ROUNDS = 5      # address -> records -> their other addresses -> ...: a person is a handful of each


@dataclass(frozen=True)
class Person:
    """The addresses (lower-cased, and normalised) and the CRM record ids of one person."""

    addresses: frozenset[str]
    contact_ids: frozenset[str]
    policy: AddressPolicy

    def owns(self, address: str | None) -> bool:
        """Whether `address` (any case, +tag or alias) is one of the person's."""
        if not address:
            return False
        return address.strip().lower() in self.addresses or self.policy.normalize(address) in self.addresses

    def owns_any(self, header_values: list[str]) -> bool:
        """Whether any address in these header values (From, To, Cc: "Name <a@b>, c@d") is the person's."""
        return any(self.owns(address) for _, address in getaddresses(header_values))

    def named_in(self, text: str | None) -> bool:
        """Whether one of the person's addresses appears in `text`."""
        return bool(text) and any(self.owns(m.group(0)) for m in ADDRESS_IN_TEXT.finditer(text or ""))

    def redact(self, text: str) -> str:
        """`text` with the person's addresses replaced by REDACTED (JSON stays valid: no quote is touched)."""
        return ADDRESS_IN_TEXT.sub(lambda m: REDACTED if self.owns(m.group(0)) else m.group(0), text)

    def union(self, other: Person) -> Person:
        """Both people's addresses and records (a later pass keeps what the first pass found)."""
        return Person(self.addresses | other.addresses, self.contact_ids | other.contact_ids, self.policy)


def find_person(session: Session, address: str, policy: AddressPolicy) -> Person:
    """The person `address` belongs to, as far as the store knows them (maybe only the address itself)."""
    given = address.strip().lower()
    addresses = {given, policy.normalize(given)}
    # Aliases the config maps onto the address are the same mailbox of the same person.
    addresses |= {alias.lower() for alias, target in policy.aliases.items() if target.lower() in addresses}
    # Records an earlier forget of the address left writes in flight for: their mirror entry is gone already.
    ids = pending_records(session, {d for a in addresses for d in address_digests(a, policy)})
    for _ in range(_ROUNDS):
        before = (len(addresses), len(ids))
        ids |= set(session.exec(select(ContactAddressRow.contact_id).where(
            col(ContactAddressRow.address).in_(sorted(addresses)))).all())
        ids |= _related_records(session, ids, addresses)
        addresses |= {a.lower() for a in session.exec(select(ContactAddressRow.address).where(
            col(ContactAddressRow.contact_id).in_(sorted(ids)))).all()}
        addresses |= {policy.normalize(a) for a in addresses}
        if (len(addresses), len(ids)) == before:
            break
    return Person(frozenset(addresses), frozenset(ids), policy)


def _related_records(session: Session, ids: set[str], addresses: set[str]) -> set[str]:
    """Records merged into these, the records these were merged into, and records whose primary email is one
    of the addresses (a merged-away record has lost its address index but keeps its primary email)."""
    rows = session.exec(select(ContactRow).where(
        col(ContactRow.crm_id).in_(sorted(ids)) | col(ContactRow.merged_into).in_(sorted(ids))
        | col(ContactRow.primary_email).in_(sorted(addresses)))).all()
    return {r.crm_id for r in rows} | {r.merged_into for r in rows if r.merged_into}
