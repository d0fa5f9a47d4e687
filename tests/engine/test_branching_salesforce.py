"""Branches and variants on Salesforce with an Outlook (Graph) mailbox, in process on a moving clock: a branch
reads a Salesforce Lead field (LeadSource) and a pricing-page visit posted as a custom event; the call task lands
as a Salesforce Task on the record; the tested step's variant is the subject delivered; the default path runs
step 2 two days later. Nothing is sent or created twice when the cycles repeat."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from sqlmodel import select

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.tables import EnrollmentRow, EventRow

ALWAYS = {"start": "00:00", "end": "23:59:59.999999", "days": [0, 1, 2, 3, 4, 5, 6], "default_timezone": "UTC"}
SUBJECTS = {"benefit": "Cut onboarding time in half, {{ contact.firstname }}",
            "question": "{{ contact.firstname }}, how long does onboarding take you?"}
SEQUENCE = {
    "name": "sf-branching", "enroll_on": "contact.created", "enroll_when": {"contact.domain": "prospect.example"},
    "window": ALWAYS, "spacing_minutes": 0,
    "steps": [
        {"kind": "email", "name": "intro", "subject": "Hello", "body": "Hi {{ contact.firstname }}\n{{ unsubscribe_url }}",
         "variants": [{"name": name, "subject": subject} for name, subject in SUBJECTS.items()]},
        {"kind": "email", "name": "follow-up", "subject": "Re: Hello", "body": "Following up\n{{ unsubscribe_url }}",
         "delay": {"days": 2}, "then": "end", "branches": [
             {"when": {"contact.LeadSource": "Partner"}, "goto": "partner-call"},
             {"seen": {"event.type": "page.visited", "event.url": {"contains": "/pricing"}}, "goto": "pricing"}]},
        {"kind": "task", "name": "partner-call", "subject": "Call {{ contact.firstname }} (partner lead)",
         "task_type": "call", "then": "end"},
        {"kind": "email", "name": "pricing", "subject": "Pricing for {{ contact.firstname }}",
         "body": "Saw you looked at pricing\n{{ unsubscribe_url }}"},
    ]}
LEADS = {"Pam": "Partner", "Pete": "Web", "Wes": "Web"}


def test_salesforce_leads_take_their_branches_once_with_tasks_on_the_record(tls_sandbox: SandboxServer,
                                                                         tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce", mailbox="outlook")
    org = tls_sandbox.salesforce
    ids = {first: org.add_lead(f"{first.lower()}@prospect.example", first_name=first, last_name="Prospect",
                               company="Prospect Co", OwnerId=seeded["owner_id"], LeadSource=source)
           for first, source in LEADS.items()}
    config: dict[str, Any] = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce",
                                         mailbox="outlook")
    config["mailboxes"][0]["display_name"] = "Alex Morgan"
    config["rules"] = {"sequences": [SEQUENCE]}
    config["server"] = {"public_url": "https://threadline.example", "unsubscribe_secret": "sf-branching-secret"}
    settings = parse_settings(config, tmp_path / "threadline.yaml", env={})
    now = [datetime.now(UTC)]
    engine = build_engine(settings, clock=lambda: now[0])
    try:
        for _ in range(3):                                  # enrol, send the tested intro, log it
            assert engine.run_once().errors == []
        with engine.store.session() as session:             # Wes visits the pricing page (POST /events)
            record_events(session, [Event(id=event_id("page.visited", "wes"), type="page.visited",
                                          contact_id=ids["Wes"], occurred_at=now[0] + timedelta(hours=1),
                                          source="events", data={"url": "https://northwind.example/pricing"})])
        now[0] += timedelta(days=2, hours=2)
        for _ in range(4):
            assert engine.run_once().errors == []
        with engine.store.session() as session:
            enrollments = {r.contact_id: r for r in session.exec(select(EnrollmentRow)).all()}
            branched = [json.loads(r.data) | {"contact": r.contact_id} for r in session.exec(
                select(EventRow).where(EventRow.type == "sequence.branched")).all()]
    finally:
        engine.close()

    sent = [BytesHeaderParser(policy=policy.default).parsebytes(m.raw)
            for m in tls_sandbox.graph.messages(REP, "sentitems")]
    ours = [h for h in sent if str(h["Message-ID"]).startswith("<tl-")]
    assert Counter(str(h["Message-ID"]) for h in ours).most_common(1)[0][1] == 1          # each once
    subjects = Counter(str(h["Subject"]) for h in ours)
    for first, contact_id in ids.items():
        variant = json.loads(enrollments[contact_id].variants)["0"]
        assert subjects[SUBJECTS[variant].replace("{{ contact.firstname }}", first)] == 1
        assert enrollments[contact_id].status == "completed"
    assert subjects["Pricing for Wes"] == 1 and subjects["Re: Hello"] == 1                  # Pete: the default path
    assert {(b["contact"], b["branch"], b["goto"]) for b in branched} == {
        (ids["Pam"], 1, "partner-call"), (ids["Wes"], 2, "pricing"), (ids["Pete"], 0, "follow-up")}
    tasks = [t["Subject"] for t in org.tasks_for(ids["Pam"]) if t.get("TaskSubtype") != "Email"]
    assert tasks == ["Call Pam (partner lead)"]
    assert all(t.get("TaskSubtype") == "Email" for lead in ("Pete", "Wes") for t in org.tasks_for(ids[lead]))
