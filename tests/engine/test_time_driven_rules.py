"""Rules that stay true as time passes (issue #16): decay, SLAs and rule edits reach the CRM when they fall due,
with a controllable clock, through the real engine, the HubSpot sandbox and the outbox.

After every rules step the CRM holds what the rules say at that moment: `plan` for that moment is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event
from sqlmodel import select

from tests.engine.world import seed_contacts
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.reports.rule_plans import explain_lines
from threadline.connector.wiring.build import build_engine
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.tables import AuditRow, RuleDueRow

POINTS_MODEL = Path(__file__).resolve().parents[2] / "config" / "rules" / "points-model.yaml"
DAY0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def day(self, n: float) -> datetime:
        self.now = DAY0 + timedelta(days=n)
        return self.now


@dataclass
class World:
    sandbox: SandboxServer
    settings: Settings
    engine: SyncEngine
    clock: Clock
    contact: str

    def cycle(self, day: float) -> None:
        self.clock.day(day)
        self.engine.run_once()
        self.engine.run_once()      # the write lands in the CRM; the next pull mirrors it

    def crm(self, name: str) -> Any:
        return self.sandbox.hubspot.object("contacts", self.contact).properties.get(name)

    def runner(self) -> RuleRunner:
        return RuleRunner(self.engine.store, compile_rules(self.settings.rules))

    def plan_now(self) -> list[Any]:
        return self.runner().evaluate(None, self.clock.now).effects

    def event(self, type_: str, day: float, **data: Any) -> None:
        with self.engine.store.session() as session:
            record_events(session, [Event(id=event_id(type_, self.contact, str(day), str(data)), type=type_,
                                          contact_id=self.contact, occurred_at=DAY0 + timedelta(days=day),
                                          source="api", data=data)])


def make_world(sandbox: SandboxServer, tmp_path: Path, rules: dict[str, Any] | None = None,
               store_url: str | None = None) -> World:
    [contact], _ = seed_contacts(sandbox, 1)
    config = {"store": {"url": store_url or f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                      "search_index_lag": "0s"},
              "mailboxes": [], "rules": rules or yaml.safe_load(POINTS_MODEL.read_text())}
    settings = parse_settings(config, tmp_path / "threadline.yaml", env={})
    clock = Clock(DAY0)
    return World(sandbox, settings, build_engine(settings, clock=clock), clock, contact)


@pytest.fixture
def world(sandbox: SandboxServer, tmp_path: Path) -> Iterator[World]:
    made = make_world(sandbox, tmp_path)
    yield made
    made.engine.close()


@pytest.fixture
def world_on_each_store(sandbox: SandboxServer, tmp_path: Path, store_url: str) -> Iterator[World]:
    """The same world on SQLite and on the machine's PostgreSQL."""
    made = make_world(sandbox, tmp_path, store_url=store_url)
    yield made
    made.engine.close()


def test_decay_reaches_the_crm_on_day_40_95_and_200_with_no_new_activity(world_on_each_store: World) -> None:
    """The issue's case: 55 and mql on day 0; then nothing happens; the CRM follows explain as time passes."""
    world = world_on_each_store
    world.cycle(0)
    world.event("form.submitted", 0, form="demo")                           # +25
    world.event("reply.received", 0, text="Sounds good")                   # +20
    world.event("page.visited", 0, url="https://northwind.example/pricing")   # +10
    world.cycle(0.01)
    assert (world.crm("threadline_score"), world.crm("threadline_score_tier")) == ("55", "mql")
    assert world.crm("lifecyclestage") == "marketingqualifiedlead"
    for day, score, tier in ((40, "50", "mql"), (95, "40", "warm"), (200, "25", "warm")):
        world.cycle(day)
        assert (world.crm("threadline_score"), world.crm("threadline_score_tier")) == (score, tier), day
        explained = explain_lines(world.runner(), world.contact, world.clock.now)
        assert any(f"total {score}" in line or f"= {score}" in line for line in explained), explained
        assert world.plan_now() == [], day                                   # the CRM holds what the rules say
    assert world.crm("lifecyclestage") == "marketingqualifiedlead"          # stages never move back
    with world.engine.store.session() as session:
        writes = [r.reason for r in session.exec(select(AuditRow).where(AuditRow.rule == "scoring")).all()]
    assert writes == ["score unset -> 0 (tier cold)", "score 0 -> 55 (tier mql), stage -> marketingqualifiedlead",
                      "score 55 -> 50 (tier mql)", "score 50 -> 40 (tier warm)", "score 40 -> 25 (tier warm)"]


def test_a_rules_step_with_nothing_new_and_nothing_due_costs_one_indexed_query_more(world: World) -> None:
    world.cycle(0)
    world.event("form.submitted", 0, form="demo")
    world.cycle(0.01)
    runner = world.engine.rules_step
    assert runner is not None
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    store_engine = world.engine.store.engine
    event.listen(store_engine, "before_cursor_execute", seen)
    try:
        runner()                       # nothing new, the next decay step 30 days away
    finally:
        event.remove(store_engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 3, statements       # the events cursor, the newest event, and the due contacts
    [due_query] = [s for s in reads if "rule_due" in s]
    with store_engine.connect() as connection:
        plan = " ".join(str(row) for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + due_query, (world.clock.now.isoformat(), 1000, 0)).all())
    assert "ix_rule_due_due_at" in plan, plan
    with world.engine.store.session() as session:
        [due] = session.exec(select(RuleDueRow)).all()
    assert (due.crm_id, due.reason) == (world.contact, "decay")
    assert due.due_at.replace(tzinfo=UTC) == DAY0 + timedelta(days=30)


def scored(world: World, points: int = 25) -> None:
    """The contact scored on day 0 (a demo request) and that score written to the CRM."""
    world.cycle(0)
    world.event("form.submitted", 0, form="demo")
    world.cycle(0.01)
    assert world.crm("threadline_score") == str(points)


def audit(world: World) -> list[str]:
    with world.engine.store.session() as session:
        return [r.reason for r in session.exec(select(AuditRow).where(AuditRow.rule == "scoring")
                                                .order_by(AuditRow.id)).all()]  # type: ignore[arg-type]


def test_a_hand_edit_of_the_score_is_overwritten_once_and_the_audit_says_so(world: World) -> None:
    scored(world)
    world.sandbox.hubspot.update_contact(world.contact, threadline_score="90")   # a rep edits it in HubSpot
    world.cycle(1)
    assert world.crm("threadline_score") == "25"
    assert "overwrote a manual edit of threadline_score (25 -> 90 in the CRM)" in audit(world)[-1]
    before = len(audit(world))
    for day in (2, 3, 4):
        world.cycle(day)
    assert len(audit(world)) == before                          # nothing flaps: no change, no write
    world.sandbox.hubspot.update_contact(world.contact, threadline_score="91")   # a second edit: one more write
    world.cycle(5)
    assert world.crm("threadline_score") == "25" and len(audit(world)) == before + 1


def test_a_pinned_hand_edit_stays_until_a_named_event_releases_it(sandbox: SandboxServer, tmp_path: Path) -> None:
    rules = yaml.safe_load(POINTS_MODEL.read_text())
    rules["manual_edits"] = {"policy": "pin", "until": ["reply.received"]}
    world = make_world(sandbox, tmp_path, rules)
    try:
        scored(world)
        world.sandbox.hubspot.update_contact(world.contact, threadline_score="90")
        world.cycle(1)
        world.event("page.visited", 2, url="https://northwind.example/pricing")    # +10, but the score is pinned
        world.cycle(2)
        assert world.crm("threadline_score") == "90"
        assert world.crm("threadline_score_intent") == "35"                         # the other fields follow
        assert "pinned by a manual edit: threadline_score" in audit(world)[-1]
        world.event("reply.received", 3, text="Let's talk")                         # +20: releases the pin
        world.cycle(3)
        assert world.crm("threadline_score") == "55"
        assert "manual edit of threadline_score released by reply.received" in audit(world)[-1]
        assert world.plan_now() == []
    finally:
        world.engine.close()


def test_changed_rules_reevaluate_everyone_at_the_next_start_or_wait_for_confirm_when_large(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    rules = yaml.safe_load(POINTS_MODEL.read_text())
    world = make_world(sandbox, tmp_path, rules)
    scored(world)
    world.engine.close()

    rules["scoring"]["rules"][2]["points"] = 30               # demo request: 25 -> 30, for everyone
    changed = parse_settings({"store": {"url": world.settings.store.url}, "mailboxes": [], "rules": rules,
                              "crm": {"kind": "hubspot", "base_url": sandbox.url, "search_index_lag": "0s",
                                      "token": sandbox.settings.hubspot_token}}, tmp_path / "t.yaml", env={})
    engine = build_engine(changed, clock=world.clock)
    try:
        world.clock.day(1)
        engine.run_once()
        engine.run_once()
        assert world.crm("threadline_score") == "30"                       # re-evaluated with no new event
        runner = RuleRunner(engine.store, compile_rules(changed.rules))
        assert runner.evaluate(None, world.clock.now).effects == []
        assert not runner.reevaluate_if_rules_changed(world.clock.now)     # settled: the same rules again
    finally:
        engine.close()


def test_a_rule_change_over_max_share_is_held_until_plan_apply_confirm(sandbox: SandboxServer, tmp_path: Path) -> None:
    rules = yaml.safe_load(POINTS_MODEL.read_text())
    world = make_world(sandbox, tmp_path, rules)
    scored(world)
    world.engine.close()
    rules["scoring"]["rules"][2]["points"] = 30
    rules["min_contacts_for_share_check"] = 1              # one contact is a whole portal here
    changed = parse_settings({"store": {"url": world.settings.store.url}, "mailboxes": [], "rules": rules,
                              "crm": {"kind": "hubspot", "base_url": sandbox.url, "search_index_lag": "0s",
                                      "token": sandbox.settings.hubspot_token}}, tmp_path / "t.yaml", env={})
    from threadline.sync.store.database import Store

    runner = RuleRunner(Store(changed.store.url), compile_rules(changed.rules))
    world.clock.day(1)
    assert runner.reevaluate_if_rules_changed(world.clock.now) is False
    with runner.store.session() as session:
        assert all(r.reason != "rules changed" for r in session.exec(select(RuleDueRow)).all())
    from threadline.sync.store.tables import SyncErrorRow
    with runner.store.session() as session:
        held = [e.message for e in session.exec(select(SyncErrorRow)).all() if "rules changed" in e.message]
    assert held and "threadline plan --apply --confirm" in held[-1]
    evaluation = runner.evaluate(None, world.clock.now)                   # what `plan --apply --confirm` does
    assert runner.apply(evaluation, confirm=True).intended == 1
    assert runner.reevaluate_if_rules_changed(world.clock.now) is False    # settled by the confirmed apply


def test_plan_and_explain_at_a_later_time_show_what_decay_will_have_written(world: World, tmp_path: Path) -> None:
    """`plan --at` / `explain --at`: which MQLs fall back to warm by then, if nothing new happens."""
    import json
    import subprocess
    import sys

    world.cycle(0)
    world.event("form.submitted", 0, form="demo")
    world.event("reply.received", 0, text="Sounds good")
    world.event("page.visited", 0, url="https://northwind.example/pricing")
    world.cycle(0.01)                                    # 55, mql, in the CRM
    config = tmp_path / "threadline.yaml"
    config.write_text(yaml.safe_dump(world.settings.model_dump(mode="json", exclude_none=True)))

    def threadline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "threadline", *args, "-c", str(config)],
                              capture_output=True, text=True, timeout=120)

    later = (DAY0 + timedelta(days=95)).isoformat()
    planned = threadline("plan", "--json", "--at", later)
    assert planned.returncode == 0, planned.stderr
    [change] = json.loads(planned.stdout)["changes"]
    assert {name: value["to"] for name, value in change["fields"].items()} == {
        "threadline_score": "40", "threadline_score_tier": "warm", "threadline_score_intent": "40"}
    explained = threadline("explain", world.contact, "--at", later)
    assert explained.returncode == 0 and "decay" in explained.stdout
    assert "next change with no new events: 2027-05-04" in explained.stdout          # day 120: the next step
    assert threadline("plan", "--at", "next tuesday").returncode == 2
    refused = threadline("plan", "--apply", "--at", "+7d")
    assert refused.returncode == 2 and "--at only shows" in refused.stderr


def test_decay_reaches_salesforce_too_with_the_salesforce_points_model(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The same decay, on a Salesforce Contact, with the shipped Salesforce example unchanged."""
    from tests.engine.test_check_rule_fields import RULES, create_salesforce_example_fields
    from threadline.connector.demo.run import demo_config, seed_demo
    from threadline.sync.contacts.mirror import contacts_for_address

    seeded = seed_demo(sandbox, crm="salesforce")
    create_salesforce_example_fields(sandbox, ("Lead", "Marketing Qualified Lead"))
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["mailboxes"] = []
    config["rules"] = yaml.safe_load((RULES / "points-model.salesforce.yaml").read_text())
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    clock = Clock(DAY0)
    engine = build_engine(settings, clock=clock)
    try:
        engine.run_once()
        with engine.store.session() as session:
            [jane] = contacts_for_address(session, "jane.doe@acme-corp.example")
            record_events(session, [
                Event(id=event_id(t, jane), type=t, contact_id=jane, occurred_at=DAY0, source="api", data=d)
                for t, d in (("form.submitted", {"form": "demo"}), ("reply.received", {"text": "Yes"}),
                             ("page.visited", {"url": "https://northwind.example/pricing"}))])
        for day, score, tier in ((0.01, 55, "mql"), (40, 50, "mql"), (95, 40, "warm"), (200, 25, "warm")):
            clock.day(day)
            engine.run_once()
            record = sandbox.salesforce.record("Contact", jane)
            assert (record["Threadline_Score__c"], record["Threadline_Score_Tier__c"]) == (score, tier), day
            assert record["Lifecycle_Stage__c"] == "Marketing Qualified Lead"
            assert RuleRunner(engine.store, compile_rules(settings.rules)).evaluate(None, clock.now).effects == []
    finally:
        engine.close()


def test_next_changes_for_a_whole_portal_are_kept_in_bounded_statements(tmp_path: Path) -> None:
    """The first rules step over 100,000 contacts kept every next change in one INSERT, past SQLite's
    32,766 variables (found by bench/rules_over_time.py); they go in batches now."""
    from sqlalchemy import event

    from threadline.rules.store import due_contacts, save_next_changes
    from threadline.sync.store.database import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    bound: list[int] = []

    def count(_conn, _cursor, _statement, parameters, _context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not executemany:
            bound.append(len(parameters))

    # This machine's SQLite may allow more than 32,766 variables: measure what each statement binds instead.
    event.listen(store.engine, "before_cursor_execute", count)
    changes = {str(n): (DAY0 + timedelta(minutes=n), "decay") for n in range(12_000)}
    with store.session() as session:
        save_next_changes(session, list(changes), changes)
    with store.session() as session:
        assert len(due_contacts(session, DAY0 + timedelta(days=30), 20_000)) == 12_000
        save_next_changes(session, list(changes), {})                    # nothing left to change: all dropped
    assert bound and max(bound) <= 32_766, max(bound)
    with store.session() as session:
        assert due_contacts(session, DAY0 + timedelta(days=30), 20_000) == []
