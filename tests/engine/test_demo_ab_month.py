"""The demo's simulated month of an A/B test (connector/demo/ab_month.py), checked on the sandbox and in the store
rather than in its printed text: every step delivered once with our Message-ID, the variant on each send the one
recorded on its enrolment, the subject delivered that variant's and the wait before step 2 that variant's, every
answer stored and logged on the CRM once, and the printed variant tables equal to counts made here from the store.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import select

from tests.engine.world import sent_headers
from threadline.config.loading import parse_settings
from threadline.connector.demo.ab_month import ABMonth, DemoClock
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.sequence import AB_SEQUENCE, demo_sequences, with_sequences
from threadline.connector.demo.world import guide_prospects
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, EventRow, OutboxRow, as_utc

SUBJECTS = {"benefit": "Cut onboarding time in half at {company}",
            "question": "How long does onboarding take at {company}?"}
WAIT_DAYS = {"two-days": 2, "three-days": 3}


@dataclass
class Month:
    ok: bool
    printed: str
    answered: int
    prospects: dict[str, str]           # CRM id -> email


@dataclass(frozen=True)
class Send:
    contact_id: str
    step: int
    variant: str | None
    message_id: str
    subject: str
    sent_at: datetime


def run_month(server: SandboxServer, store_url: str, crm: str, mailbox: str) -> Month:
    """The demo's first sync, then the A/B month, as `threadline demo` runs them (without the parts between)."""
    out = io.StringIO()
    seeded = seed_demo(server, crm, mailbox)
    sequences = demo_sequences()
    assert sequences is not None
    settings = parse_settings(with_sequences(demo_config(server, store_url, seeded, crm, mailbox), sequences),
                              Path("(test)"), env={})
    clock = DemoClock()
    engine = build_engine(settings, clock=clock)
    try:
        engine.run_once()
        month = ABMonth(Console(file=out, width=200), server, engine, settings, clock, crm, mailbox,
                        seeded["owner_id"])
        ok = month.run(lambda _title: engine.run_once())
    finally:
        engine.close()
    assert clock.at is None                                         # the clock is the wall clock again
    return Month(ok, out.getvalue(), len(month.answered), {cid: p.email for cid, p in month.prospects.items()})


def sends_in_store(store: Store) -> list[Send]:
    with store.session() as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == "send_email")).all()
    found = []
    for row in rows:
        payload = json.loads(row.payload)
        if payload["sequence"] == AB_SEQUENCE:
            assert row.status == "done", (row.key, row.status, row.last_error)
            found.append(Send(row.contact_id, payload["step_index"], payload["variant"],
                              payload["email"]["message_id"], payload["email"]["subject"],
                              datetime.fromisoformat(payload["sent"]["at"])))
    return found


def incoming_logged(server: SandboxServer, crm: str, contact_id: str) -> int:
    if crm == "salesforce":
        return sum("Direction: incoming" in t["Description"] for t in server.salesforce.tasks_for(contact_id)
                   if t["TaskSubtype"] == "Email")
    return sum(e["properties"]["hs_email_direction"] == "INCOMING_EMAIL" for e in server.hubspot.emails_for(contact_id))


def printed_tables(printed: str) -> dict[tuple[int, str], tuple[int, int]]:
    """(step, variant) -> (sends, replies) as the printed report's variant tables show them."""
    found: dict[tuple[int, str], tuple[int, int]] = {}
    step = 0
    for line in printed.splitlines():
        if "A/B test at" in line:
            step = 0 if "first-touch" in line else 1
        row = re.match(r"│ (benefit|question|two-days|three-days)\s*│\s*(\d+)\s*│\s*(\d+)\s*│", line)
        if row:
            found[(step, row[1])] = (int(row[2]), int(row[3]))
    return found


@pytest.mark.parametrize(("crm", "mailbox"), [("hubspot", "gmail"), ("salesforce", "outlook")])
def test_a_month_of_the_ab_example_sends_each_step_once_with_its_variant_and_reports_what_the_store_holds(
        request: pytest.FixtureRequest, tmp_path: Path, crm: str, mailbox: str) -> None:
    server: SandboxServer = request.getfixturevalue("tls_sandbox" if mailbox == "outlook" else "sandbox")
    url = f"sqlite:///{tmp_path / 'threadline.db'}"
    month = run_month(server, url, crm, mailbox)
    assert month.ok, month.printed[-3000:]
    store = Store(url)
    sends = sends_in_store(store)
    with store.session() as session:
        enrollments = {r.contact_id: r for r in session.exec(select(EnrollmentRow).where(
            EnrollmentRow.sequence == AB_SEQUENCE)).all()}
        replies = session.exec(select(EventRow).where(EventRow.type == "reply.received")).all()
    store.dispose()

    # Every prospect enrolled and got step 1; the month lies within the last 31 days.
    assert set(enrollments) == set(month.prospects) and len(month.prospects) == 40
    assert Counter(s.step for s in sends)[0] == 40
    now = datetime.now(UTC)
    assert all(now - timedelta(days=31) < s.sent_at < now for s in sends)

    # Each send delivered exactly once, with our Message-ID, to its prospect, with the subject it recorded.
    delivered = sent_headers(server, mailbox)
    copies = Counter(str(h["Message-ID"]) for h in delivered)
    by_id = {str(h["Message-ID"]): h for h in delivered}
    for send in sends:
        assert send.message_id.startswith("<tl-") and copies[send.message_id] == 1
        copy = by_id[send.message_id]
        assert [a for _, a in getaddresses([str(copy["To"])])] == [month.prospects[send.contact_id]]
        assert str(copy["Subject"]) == send.subject
    assert len({(s.contact_id, s.step) for s in sends}) == len(sends)          # no step twice

    # The variant on each send is the one recorded on its enrolment, and it is what the prospect saw.
    companies = {p.email: p.company for p in guide_prospects(40)}
    sent_at = {(s.contact_id, s.step): s.sent_at for s in sends}
    for send in sends:
        recorded = {int(k): v for k, v in json.loads(enrollments[send.contact_id].variants or "{}").items()}
        assert set(recorded) == {0, 1}
        assert send.variant == recorded.get(send.step)
        if send.step == 0:
            company = companies[month.prospects[send.contact_id]]
            assert send.subject == SUBJECTS[recorded[0]].format(company=company)
        if send.step == 1:       # the delay variant: 2 or 3 days after step 1, later only for a weekend
            wait = send.sent_at - sent_at[(send.contact_id, 0)]
            assert timedelta(days=WAIT_DAYS[recorded[1]]) <= wait <= timedelta(days=WAIT_DAYS[recorded[1]] + 2)
    assert {s.variant for s in sends if s.step == 0} == {"benefit", "question"}
    assert {s.variant for s in sends if s.step == 1} == {"two-days", "three-days"}
    assert {s.variant for s in sends if s.step == 2} == {None}                  # step 3 tests nothing

    # Every answer stored once, logged once on its CRM record, and the enrolment it answered stopped.
    ours = [r for r in replies if r.contact_id in month.prospects]
    assert len(ours) == month.answered > 0
    for contact_id, n in Counter(r.contact_id for r in ours).items():
        assert n == 1 and incoming_logged(server, crm, contact_id) == 1
        assert (enrollments[contact_id].status, enrollments[contact_id].exit_reason) == ("exited", "replied")
    assert {r.status for cid, r in enrollments.items() if cid not in {x.contact_id for x in ours}} == {"completed"}

    # The printed variant tables hold the store's numbers: sends per variant, and those followed by a reply.
    reply_at = {r.contact_id: as_utc(r.occurred_at) for r in ours}
    expected: Counter[tuple[int, str, str]] = Counter()
    for send in sends:
        if send.variant:
            expected[(send.step, send.variant, "sends")] += 1
            replied = send.contact_id in reply_at and reply_at[send.contact_id] >= send.sent_at
            expected[(send.step, send.variant, "replies")] += int(replied)
    assert printed_tables(month.printed) == {(step, variant): (expected[(step, variant, "sends")],
                                                               expected[(step, variant, "replies")])
                                             for step, variant in {(k[0], k[1]) for k in expected}}
