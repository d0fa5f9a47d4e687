"""Scoring and assignment running inside each CRM, through the outbox, with explain and audit.

The demo's world on the HubSpot and the Salesforce simulators: replies score, a demo
request makes Jane an MQL, so she gets a score, a tier, (in HubSpot) a lifecycle stage, an
owner by round robin and one follow-up task with an SLA due time. Replaying the same
events, and running more cycles, changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from threadline.adapters.salesforce import SalesforceNames
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.reports.rule_plans import explain_lines
from threadline.connector.wiring.build import build_engine
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.sandbox.server import SandboxServer
from threadline.sync.contacts.mirror import contacts_for_address
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.tables import AuditRow

JANE = "jane.doe@acme-corp.example"


def rules(crm: str, reps: list[str]) -> dict[str, Any]:
    hubspot = crm == "hubspot"
    fields = ({} if hubspot else {"total": "Threadline_Score__c", "fit": "Threadline_Fit__c",
                                  "intent": "Threadline_Intent__c", "tier": "Threadline_Tier__c"})
    return {
        "scoring": {"custom_events": ["form.submitted"], "fields": fields,
                    "rules": [{"name": "demo-request", "event": "form.submitted", "where": {"event.form": "demo"},
                               "points": 60},
                              {"name": "replied", "event": "reply.received", "points": 20, "cap": 40}],
                    "tiers": [{"name": "cold", "min": 0}, {"name": "mql", "min": 50}],
                    "stages": [{"at_least": 50, "value": "marketingqualifiedlead"}] if hubspot else []},
        "assignment": {"trigger": {"score.tier": "mql"}, "owner_field": "hubspot_owner_id" if hubspot else "OwnerId",
                       "reps": [{"owner_id": r, "name": f"Rep {n}"} for n, r in enumerate(reps)],
                       "rules": [{"name": "everyone", "reps": reps, "strategy": "round_robin"}],
                       "sla": {"hours": 24}},
    }


def _reps(sandbox: SandboxServer, crm: str) -> list[str]:
    if crm == "hubspot":
        return [sandbox.hubspot.add_owner(f"rep{n}@northwind.example") for n in range(2)]
    for field, kind in (("Threadline_Score__c", "double"), ("Threadline_Fit__c", "double"),
                        ("Threadline_Intent__c", "double"), ("Threadline_Tier__c", "string")):
        for obj in ("Contact", "Lead"):
            sandbox.salesforce.add_custom_field(obj, field, kind)
    return [sandbox.salesforce.add_user(f"rep{n}@northwind.example") for n in range(2)]


def _contact(sandbox: SandboxServer, crm: str, contact_id: str) -> dict[str, Any]:
    if crm == "hubspot":
        return dict(sandbox.hubspot.object("contacts", contact_id).properties)
    return sandbox.salesforce.record("Contact", contact_id)


def _tasks(sandbox: SandboxServer, crm: str, contact_id: str) -> list[dict[str, Any]]:
    if crm == "hubspot":
        return sandbox.hubspot.tasks_for(contact_id)
    return [t for t in sandbox.salesforce.tasks_for(contact_id) if t.get("TaskSubtype") != "Email"]


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_demo_request_makes_an_mql_with_score_owner_and_one_task_and_replays_change_nothing(
        sandbox: SandboxServer, tmp_path: Path, crm: str) -> None:
    seeded = seed_demo(sandbox, crm=crm)
    if crm == "salesforce":
        SalesforceNames()   # the demo seeding already created Threadline's reply fields
    reps = _reps(sandbox, crm)
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm=crm)
    config["rules"] = rules(crm, reps)
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    engine.run_once()                                   # replies: +20 each, nobody is an MQL yet
    with engine.store.session() as session:
        [jane] = contacts_for_address(session, JANE)
    demo = Event(id=event_id("form.submitted", "demo-form-1"), type="form.submitted", contact_id=jane,
                 occurred_at=datetime.now(UTC), source="api", data={"form": "demo"})
    with engine.store.session() as session:
        record_events(session, [demo])
    engine.run_once()                                   # Jane: 20 + 60 = 80 -> mql -> owner + task
    score_field = "threadline_score" if crm == "hubspot" else "Threadline_Score__c"
    owner_field = "hubspot_owner_id" if crm == "hubspot" else "OwnerId"
    props = _contact(sandbox, crm, jane)
    assert float(props[score_field]) == 80
    assert props[owner_field] in reps
    if crm == "hubspot":
        assert props["lifecyclestage"] == "marketingqualifiedlead"
    [task] = _tasks(sandbox, crm, jane)
    with engine.store.session() as session:
        audited = session.exec(select(func.count()).select_from(AuditRow)).one()
    assert audited >= 3                                  # scores, owner, task

    with engine.store.session() as session:
        assert record_events(session, [demo]) == 0       # replaying the same event stores nothing
    engine.run_once()
    engine.run_once()
    assert len(_tasks(sandbox, crm, jane)) == 1
    with engine.store.session() as session:
        assert session.exec(select(func.count()).select_from(AuditRow)).one() == audited

    runner = RuleRunner(engine.store, compile_rules(settings.rules))
    lines = explain_lines(runner, jane)
    assert any("demo-request" in line and "60" in line for line in lines), lines
    assert any(line.startswith("assignment:") for line in lines)
    assert runner.evaluate(None, datetime.now(UTC)).effects == []     # plan: nothing left to do
    engine.close()


def _mql_world(sandbox: SandboxServer, tmp_path: Path, on_breach: dict[str, Any]) -> tuple[Any, Any, str, list[str]]:
    seeded = seed_demo(sandbox)
    reps = _reps(sandbox, "hubspot")
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    config["rules"] = rules("hubspot", reps)
    config["rules"]["assignment"]["on_breach"] = on_breach
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    engine.run_once()
    with engine.store.session() as session:
        [jane] = contacts_for_address(session, JANE)
        record_events(session, [Event(id=event_id("form.submitted", "d1"), type="form.submitted", contact_id=jane,
                                      occurred_at=datetime.now(UTC), source="api", data={"form": "demo"})])
    engine.run_once()
    return engine, settings, jane, reps


def test_an_sla_breach_escalates_once_and_a_completed_task_does_not_breach(sandbox: SandboxServer,
                                                                            tmp_path: Path) -> None:
    from datetime import timedelta

    engine, settings, jane, reps = _mql_world(sandbox, tmp_path, {"action": "escalate", "escalate_to": "999"})
    runner = RuleRunner(engine.store, compile_rules(settings.rules))
    [task] = sandbox.hubspot.tasks_for(jane)
    later = datetime.now(UTC) + timedelta(days=5)       # well past 24 business hours
    assert runner.run_pending(later).intended == 1       # one escalation task
    assert runner.run_pending(later).intended == 0       # ...and only one
    engine.run_once()
    subjects = sorted(t["properties"]["hs_task_subject"] for t in sandbox.hubspot.tasks_for(jane))
    assert subjects == ["Follow up: Jane Doe", "SLA breached: Jane Doe"]
    engine.close()


def test_completed_tasks_and_booked_meetings_become_events(sandbox: SandboxServer, tmp_path: Path) -> None:
    from datetime import timedelta

    engine, settings, jane, _ = _mql_world(sandbox, tmp_path, {"action": "escalate", "escalate_to": "999"})
    [task] = sandbox.hubspot.tasks_for(jane)
    sandbox.hubspot.complete_task(task["id"])
    sandbox.hubspot.add_meeting(jane, datetime.now(UTC) + timedelta(days=2))
    engine.run_once()
    with engine.store.session() as session:
        from threadline.sync.events.log import events_for
        types = [e.type for e in events_for(session, [jane])[jane]]
    assert "task.completed" in types and "meeting.booked" in types
    runner = RuleRunner(engine.store, compile_rules(settings.rules))
    assert runner.run_pending(datetime.now(UTC) + timedelta(days=5)).intended == 0   # done in time: no breach
    engine.close()


def test_the_salesforce_points_model_lands_score_tier_stage_and_the_opt_out_on_a_contact(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    """The shipped Salesforce example, unchanged, writes through the outbox into the fields its header names."""
    import yaml

    from tests.engine.test_check_rule_fields import RULES, create_salesforce_example_fields
    from threadline.connector.web.unsubscribe import record_unsubscribe

    seeded = seed_demo(sandbox, crm="salesforce")
    create_salesforce_example_fields(sandbox, ("Lead", "Marketing Qualified Lead"))
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["rules"] = yaml.safe_load((RULES / "points-model.salesforce.yaml").read_text())
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    engine.run_once()
    with engine.store.session() as session:
        [jane] = contacts_for_address(session, JANE)
        now = datetime.now(UTC)
        record_events(session, [
            Event(id=event_id("form.submitted", "demo-1"), type="form.submitted", contact_id=jane, occurred_at=now,
                  source="api", data={"form": "demo"}),
            *[Event(id=event_id("page.visited", f"p{n}"), type="page.visited", contact_id=jane, occurred_at=now,
                    source="api", data={"url": "https://acme.example/pricing"}) for n in range(2)]])
    engine.run_once()
    record = sandbox.salesforce.record("Contact", jane)
    assert record["Threadline_Score__c"] >= 50
    assert (record["Threadline_Score_Tier__c"], record["Lifecycle_Stage__c"]) == ("mql", "Marketing Qualified Lead")
    assert record["HasOptedOutOfEmail"] in (False, None)

    record_unsubscribe(engine.store, jane, settings.rules.unsubscribe_field)
    engine.run_once()
    record = sandbox.salesforce.record("Contact", jane)
    assert record["HasOptedOutOfEmail"] is True
    assert record["Threadline_Score__c"] == 0                     # the unsubscribe reset
    engine.close()
