"""Keep a forgotten person forgotten: the contact pull never mirrors them again, so nothing can match, enrol or
send for them, while the CRM still holds their record (the admin deletes it there).

The store must be able to answer "was this address forgotten?" for an address it sees again, so the record is
a deterministic digest of the address. It is a digest, not the address: a forget request asks for the address to
be gone, and a table of the people who asked to be forgotten would itself be a list of them. Someone reading the
store can confirm a guess (hash it and look), but cannot list who was forgotten. The digest is of the address as
matching normalises it (AddressPolicy.normalize) and of its plain lower-case form too, so a later change of
aliases or plus-addressing still finds it.

The records live in `rule_state` under FORGOTTEN_PREFIX (a table of their own would need a migration).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from threadline.adapters.records import CrmContact
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.tables import RuleStateRow
from threadline.sync.store.upsert import insert_ignore

FORGOTTEN_PREFIX = "forgotten:"
_CHUNK = 500


def address_digest(address: str) -> str:
    """The digest a forgotten address is kept under (sha256, hex, of the lower-cased address)."""
    return hashlib.sha256(b"threadline/forgotten-address\0" + address.strip().lower().encode()).hexdigest()


def contact_digest(crm_id: str) -> str:
    """The digest a forgotten CRM record is kept under: the record may gain a new address after the forget."""
    return hashlib.sha256(b"threadline/forgotten-contact\0" + crm_id.encode()).hexdigest()


def address_digests(address: str, policy: AddressPolicy) -> set[str]:
    """Digests of both forms an address may be met in: as written (lower-cased) and normalised."""
    return {address_digest(address), address_digest(policy.normalize(address))}


def suppress(session: Session, digests: Iterable[str], at: datetime, *, pending: Iterable[str] = (),
             settled: Iterable[str] = ()) -> int:
    """Record these digests as forgotten (idempotent; the first time is kept). Returns how many were new.

    `pending`: CRM record ids whose rows a replica was still writing when the forget ran. They stay with the
    record, in clear, until a forget finds nothing in flight, because a later forget of the address cannot find
    the person's rows without them (their mirror entry, which linked address and record, is gone). `settled`:
    record ids a forget has now finished with: they leave every record's pending list."""
    names = sorted({FORGOTTEN_PREFIX + d for d in digests})
    existing = {row.name: row for start in range(0, len(names), _CHUNK) for row in session.exec(
        select(RuleStateRow).where(col(RuleStateRow.name).in_(names[start:start + _CHUNK]))).all()}
    done = set(settled) - set(pending)
    for row in {**_with_pending(session), **existing}.values():
        data = json.loads(row.data or "{}")
        held = set(data.get("pending", []))
        waiting = sorted((held - done) | set(pending)) if row.name in existing else sorted(held - done)
        if sorted(held) != waiting:
            row.data = json.dumps({**{k: v for k, v in data.items() if k != "pending"},
                                   **({"pending": waiting} if waiting else {})}, sort_keys=True)
            session.add(row)
    base = {"forgotten_at": at.isoformat(), **({"pending": sorted(set(pending))} if pending else {})}
    rows = [{"name": name, "data": json.dumps(base, sort_keys=True), "updated_at": at}
            for name in names if name not in existing]
    return insert_ignore(session, RuleStateRow, rows, ["name"])


def suppressed(session: Session, digests: Iterable[str]) -> set[str]:
    """Those of `digests` that are recorded as forgotten."""
    return {name.removeprefix(FORGOTTEN_PREFIX) for name in _records(session, digests)}


def pending_records(session: Session, digests: Iterable[str]) -> set[str]:
    """CRM record ids an earlier forget of these digests left writes in flight for (see `suppress`)."""
    return {cid for data in _records(session, digests).values() for cid in json.loads(data).get("pending", [])}


def _with_pending(session: Session) -> dict[str, RuleStateRow]:
    """Forgotten records that still hold pending record ids (a handful at most: a forget clears its own)."""
    return {row.name: row for row in session.exec(select(RuleStateRow).where(
        col(RuleStateRow.name).startswith(FORGOTTEN_PREFIX), col(RuleStateRow.data).contains('"pending"'))).all()}


def _records(session: Session, digests: Iterable[str]) -> dict[str, str]:
    wanted = sorted({FORGOTTEN_PREFIX + d for d in digests})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        found.update(session.exec(select(RuleStateRow.name, RuleStateRow.data).where(
            col(RuleStateRow.name).in_(wanted[start:start + _CHUNK]))).all())
    return found


def is_forgotten(session: Session, address: str, policy: AddressPolicy) -> bool:
    """Whether this address was forgotten (`threadline forget`): nothing may be created, logged or sent for it."""
    return bool(suppressed(session, address_digests(address, policy)))


def unforgotten(session: Session, contacts: Sequence[CrmContact], policy: AddressPolicy) -> list[CrmContact]:
    """`contacts` without the forgotten ones (by record id or by any of their addresses): what the mirror keeps."""
    if not contacts:
        return []
    digests = {c.id: {contact_digest(c.id)} | {d for a in c.emails if a for d in address_digests(a, policy)}
               for c in contacts}
    hit = suppressed(session, {d for ds in digests.values() for d in ds})
    if not hit:
        return list(contacts)
    return [c for c in contacts if not digests[c.id] & hit]


def any_forgotten(session: Session) -> bool:
    """Whether anyone was ever forgotten here (most stores: no one, and a page's messages need no check)."""
    return session.exec(select(RuleStateRow.name).where(
        col(RuleStateRow.name).startswith(FORGOTTEN_PREFIX)).limit(1)).first() is not None


def forgotten_among(session: Session, addresses: Iterable[str], policy: AddressPolicy) -> set[str]:
    """Those of `addresses` (lower-cased) that belong to a forgotten person: one query for a message's parties."""
    forms = {a.strip().lower(): address_digests(a, policy) for a in addresses if a}
    hit = suppressed(session, {d for ds in forms.values() for d in ds})
    return {a for a, ds in forms.items() if ds & hit}
