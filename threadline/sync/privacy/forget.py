"""Forget a person on request (`threadline forget EMAIL`, a data-subject erasure request).

Everything the store holds about the person goes in one transaction: their messages and decisions, cached
reply text, events, enrolments (so every sequence stops), rule due times, deferred mail, audit rows, recorded
errors, and outbox rows that would still write or send for them; rows shared with other people lose only the
person's part. The person is then suppressed (suppression.py), so the contact pull never mirrors them again
and nothing can match, enrol or send for them. What Threadline cannot erase is reported: the CRM's records
(the contact or lead, the activities Threadline logged on it) and the copies in the reps' mailboxes.

Idempotent: forgetting again finds nothing more (or what a replica wrote meanwhile) and says so. A replica
running at the same time is handled by the outbox leases: rows it is performing right now are left to it and
reported (forget again once their lease has passed); the other rows are locked until this transaction ends.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.privacy.findings import CrmRecord, Findings, MailboxCopy, find_all
from threadline.sync.privacy.person import Person, find_person
from threadline.sync.privacy.suppression import address_digest, address_digests, contact_digest, suppress
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, EventRow

FORGET_RULE = "privacy:forget"
#: The placeholder an erased event leaves when it was the newest: see _erase_events.
ERASED_EVENT = "privacy.erased"
_PASSES = 3


@dataclass
class ForgetReport:
    """What forgetting an address did (or, in a dry run, would do)."""

    address: str
    crm: str
    dry_run: bool
    addresses: list[str] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)        # table -> rows deleted
    redacted: Counter[str] = field(default_factory=Counter)       # table -> rows that lost the person's part
    crm_records: list[CrmRecord] = field(default_factory=list)
    mailbox_copies: list[MailboxCopy] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """False while a replica still performs a write for the person (forget again after its lease)."""
        return not self.in_flight

    def add(self, person: Person, found: Findings) -> None:
        self.addresses = sorted(set(self.addresses) | person.addresses)
        self.contact_ids = sorted(set(self.contact_ids) | person.contact_ids)
        self.removed += found.removed
        self.redacted += found.redacted
        self.crm_records += [r for r in found.crm_records if r not in self.crm_records]
        self.mailbox_copies += [c for c in found.mailbox_copies if c not in self.mailbox_copies]
        self.in_flight = sorted(set(found.in_flight))     # the last pass's: earlier ones may have finished

    def as_json(self) -> dict[str, object]:
        return {"address": self.address, "crm": self.crm, "dry_run": self.dry_run, "addresses": self.addresses,
                "contact_ids": self.contact_ids, "removed": dict(sorted(self.removed.items())),
                "redacted": dict(sorted(self.redacted.items())),
                "crm_records": [asdict(r) for r in self.crm_records],
                "mailbox_copies": [asdict(c) for c in self.mailbox_copies], "in_flight": self.in_flight,
                "complete": self.complete}


def mask(address: str) -> str:
    """A form of the address that a log or audit may keep: "j***@a***.com"."""
    local, _, domain = address.strip().lower().rpartition("@")
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{(name or tld)[:1]}***{dot}{tld if name else ''}"


def forget(store: Store, address: str, policy: AddressPolicy, *, crm: str, now: datetime, who: str,
           dry_run: bool = False) -> ForgetReport:
    """Forget `address` and its person (see the module docstring); `dry_run` finds and changes nothing.

    A real run audits the request and goes on (at most _PASSES transactions) until a pass finds nothing to
    change: a replica that was pulling mail as the first pass ran may have written a row about the person."""
    report = ForgetReport(address=address.strip().lower(), crm=crm, dry_run=dry_run)
    person: Person | None = None
    for first in [True] + [False] * (_PASSES - 1):
        with store.session() as session:
            found_now = find_person(session, address, policy)
            person = found_now if person is None else person.union(found_now)
            found = find_all(session, person, now, lock=not dry_run)
            report.add(person, found)
            if dry_run:
                session.rollback()
                return report
            if not first and not found.changes:
                break
            erase(session, found)
            _suppress(session, person, found, now)
            _audit(session, report, person, found, now, who)
    return report


def _suppress(session: Session, person: Person, found: Findings, now: datetime) -> None:
    """The person stays forgotten: their addresses and records, as digests (suppression.py)."""
    digests = {d for a in person.addresses for d in address_digests(a, person.policy)}
    digests |= {contact_digest(cid) for cid in person.contact_ids}
    if found.in_flight:
        suppress(session, digests, now, pending=person.contact_ids)
    else:
        suppress(session, digests, now, settled=person.contact_ids)


def erase(session: Session, found: Findings) -> None:
    """Apply `found`: delete and edit its rows (in the caller's transaction)."""
    events = [row for table, row in found.deletions if table == "events"]
    for table, row in found.deletions:
        if table != "events":
            session.delete(row)
    for _, row, values in found.edits:
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
    _erase_events(session, [r for r in events if isinstance(r, EventRow)])
    session.flush()


def _erase_events(session: Session, rows: list[EventRow]) -> None:
    """Delete the person's events, except that the newest event of the whole table becomes an empty placeholder.

    The rules and sequences read events by `seq` after a saved cursor. SQLite hands out max(seq) + 1 for a new
    row, so deleting the newest rows would give the next event a seq at or below the cursors, and it would never
    be read. The placeholder keeps the high-water mark and says nothing about anyone."""
    newest = session.exec(select(func.max(EventRow.seq))).one()
    for row in rows:
        if row.seq == newest:
            row.id, row.type, row.contact_id = f"{ERASED_EVENT}:{uuid.uuid4().hex}"[:64], ERASED_EVENT, ""
            row.source, row.data = "privacy", "{}"
            session.add(row)
        else:
            session.delete(row)


def _audit(session: Session, report: ForgetReport, person: Person, found: Findings, now: datetime,
           who: str) -> None:
    """One audit line per pass that changed something; the address only masked and as a digest."""
    removed, redacted = found.removed, found.redacted
    what = ", ".join(f"{n} {table}" for table, n in sorted(removed.items())) or "nothing stored"
    edited = ", ".join(f"{n} {table}" for table, n in sorted(redacted.items()))
    reason = (f"forgot {mask(report.address)} (sha256 {address_digest(report.address)[:12]}) by {who}: removed "
              f"{what}" + (f"; redacted {edited}" if edited else "") + f"; {len(found.crm_records)} {report.crm} "
              "record(s) for the admin to delete there" + (f"; {len(found.in_flight)} write(s) in flight" if
                                                           found.in_flight else ""))
    session.add(AuditRow(at=now, rule=FORGET_RULE, contact_id="", effect_key=f"privacy:{uuid.uuid4().hex}",
                         kind="forget", reason=reason[:1000], detail=json.dumps({
                             "address_sha256": address_digest(report.address), "removed": dict(removed),
                             "redacted": dict(redacted), "crm": report.crm, "crm_records": len(found.crm_records),
                             "records": len(person.contact_ids), "in_flight": len(found.in_flight)},
                             sort_keys=True)))
