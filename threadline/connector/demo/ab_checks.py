"""Reading back the demo's A/B month (ab_month.py) from the store and the sandbox, and checking it.

The checks compare what different parts recorded: the send rows against the copies in the rep's sandbox Sent
folder, the variant on each send against the one recorded on its enrolment, the answers written against the
replies stored and logged in the CRM, and the report's variant tables against counts made here from the store.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from sqlmodel import col, select

from threadline.connector.demo.sequence import AB_SEQUENCE, print_checks, prospect_records, sequence_mail_sent
from threadline.connector.demo.world import REP, DemoContact
from threadline.connector.reports.sequence_report import SequenceReport
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, EventRow, OutboxRow, as_utc

TESTED_STEPS = (0, 1)

VariantCounts = dict[tuple[int, str], tuple[int, int]]      # (step index, variant) -> (sends, replies)


@dataclass(frozen=True)
class SentStep:
    """One step of the A/B sequence that went out, as its send row records it."""

    key: str
    contact_id: str
    step_index: int
    variant: str | None
    message_id: str
    subject: str
    sent_at: datetime


def sent_steps(store: Store) -> list[SentStep]:
    """The A/B sequence's done send rows, in the order they went out."""
    with store.session() as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == "send_email", OutboxRow.status == "done")
                            .order_by(col(OutboxRow.id))).all()
    found = []
    for row in rows:
        payload = json.loads(row.payload)
        if payload.get("sequence") == AB_SEQUENCE and "sent" in payload:
            found.append(SentStep(row.key, row.contact_id, payload["step_index"], payload.get("variant"),
                                  payload["email"]["message_id"], payload["email"]["subject"],
                                  datetime.fromisoformat(payload["sent"]["at"])))
    return sorted(found, key=lambda s: s.sent_at)


def next_due(store: Store) -> datetime | None:
    """When the scheduler must next look at an open enrolment of the A/B sequence (None: none is waiting)."""
    with store.session() as session:
        due = session.exec(select(EnrollmentRow.next_due_at).where(
            EnrollmentRow.sequence == AB_SEQUENCE, col(EnrollmentRow.status).in_(["active", "paused"]),
            col(EnrollmentRow.next_due_at).is_not(None))).all()
    return min((as_utc(at) for at in due if at is not None), default=None)


def recorded_variants(store: Store) -> dict[str, dict[int, str]]:
    """Contact -> {step index: variant} as recorded on its enrolment in the A/B sequence."""
    with store.session() as session:
        rows = session.exec(select(EnrollmentRow).where(EnrollmentRow.sequence == AB_SEQUENCE)).all()
    return {row.contact_id: {int(step): name for step, name in json.loads(row.variants or "{}").items()}
            for row in rows}


def replies_at(store: Store, contact_ids: set[str]) -> dict[str, list[datetime]]:
    """Contact -> when each of its stored replies was received."""
    with store.session() as session:
        rows = session.exec(select(EventRow).where(EventRow.type == "reply.received",
                                                   col(EventRow.contact_id).in_(sorted(contact_ids)))).all()
    found: dict[str, list[datetime]] = {}
    for row in rows:
        found.setdefault(row.contact_id, []).append(as_utc(row.occurred_at))
    return found


def store_variant_counts(sends: list[SentStep], replies: Mapping[str, list[datetime]]) -> VariantCounts:
    """Per tested step and variant: sends, and how many of them were followed by a reply from their contact."""
    counts: Counter[tuple[int, str, str]] = Counter()
    for sent in sends:
        if sent.step_index in TESTED_STEPS and sent.variant:
            counts[(sent.step_index, sent.variant, "sends")] += 1
            if any(at >= sent.sent_at for at in replies.get(sent.contact_id, [])):
                counts[(sent.step_index, sent.variant, "replies")] += 1
    pairs = {(step, variant) for step, variant, _ in counts}
    return {pair: (counts[(*pair, "sends")], counts[(*pair, "replies")]) for pair in sorted(pairs)}


def report_variant_counts(report: SequenceReport) -> VariantCounts:
    """The same numbers as the report's variant tables hold them."""
    outcomes = report.outcomes.get(AB_SEQUENCE)
    if outcomes is None:
        return {}
    return {(step, name): (o.reached, o.replied) for step, by_variant in sorted(outcomes.variants.items())
            for name, o in sorted(by_variant.items())}


def check_month(console: Console, server: SandboxServer, store: Store, report: SequenceReport, crm: str,
                mailbox: str, prospects: Mapping[str, DemoContact], answered: int) -> bool:
    """Print one line per check (ok / FAILED and what was found); True when all passed."""
    sends = sent_steps(store)
    ours = {s.message_id for s in sends}
    copies = [c for c in sequence_mail_sent(server, mailbox) if c["message_id"] in ours]
    per_id = Counter(c["message_id"] for c in copies)
    delivered_subject = {c["message_id"]: c["subject"] for c in copies}
    variants = recorded_variants(store)
    replies = replies_at(store, set(prospects))
    logged = sum(len(prospect_records(server, crm, cid)["incoming"]) for cid in prospects)
    stored_replies = sum(len(v) for v in replies.values())
    from_store, from_report = store_variant_counts(sends, replies), report_variant_counts(report)
    checks = [
        ("each step sent once, with our Message-ID", set(per_id) == ours and set(per_id.values()) == {1},
         f"{len(sends)} send rows done, {len(copies)} copies in {REP}'s sent mail"),
        ("each send carries its enrolment's variant and subject",
         all(s.variant == variants.get(s.contact_id, {}).get(s.step_index) for s in sends)
         and all(delivered_subject.get(s.message_id) == s.subject for s in sends),
         f"{len(variants)} enrolments, with a variant for steps "
         f"{' and '.join(str(k + 1) for k in sorted({k for v in variants.values() for k in v}))}"),
        (f"every answer stored once and logged on its {crm} record", answered == stored_replies == logged,
         f"{answered} answered, {stored_replies} replies stored, {logged} logged"),
        ("the variant tables are the store's sends and replies", bool(from_store) and from_store == from_report,
         "; ".join(f"step {step + 1} {name}: {r} of {n} replied" for (step, name), (n, r) in from_store.items())),
    ]
    return print_checks(console, checks)
