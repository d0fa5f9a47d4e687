"""`threadline report`'s Handoff section: MQL -> owner -> owner's first touch, per owner and overall, and the SLA.

Ten contacts and two owners recorded as the rule layer records them (audit rows holding the effects, events)
give exact medians and 90th percentiles (nearest-rank); the sandbox worlds run the real path: scoring makes Jane
an MQL, assignment gives her an owner and a follow-up task, the rep's Sent mail and the completed task (or the
SLA breach the runner records) are what the report measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import yaml

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.reports.handoff_data import load_handoff_input
from threadline.connector.reports.handoff_report import build_handoff
from threadline.connector.wiring.build import build_engine
from threadline.rules.assignment import AssignmentSettings, AssignmentState, breach_effects
from threadline.rules.assignment.handoff import HandoffRules, RuleWrite, contact_handoffs
from threadline.rules.assignment.sla_outcome import follow_up_tasks
from threadline.rules.assignment.wait_stats import Spread, handoff_stats, nearest_rank
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, Effect, SetFields, effect_key
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.sandbox.server import SandboxServer
from threadline.sync.contacts.mirror import contacts_for_address
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
TIER = "threadline_score_tier"
OWNER = "hubspot_owner_id"
MAILBOXES = {"ann@northwind.example": "A", "ben@northwind.example": "B"}
ASSIGNMENT: dict[str, Any] = {
    "trigger": {"score.tier": "mql"},
    "reps": [{"owner_id": "A", "name": "Ann"}, {"owner_id": "B", "name": "Ben"}],
    "rules": [{"name": "everyone", "reps": ["A", "B"]}],
    "on_breach": {"action": "escalate", "escalate_to": "999"},
}
SCORING: dict[str, Any] = {
    "custom_events": ["form.submitted"],
    "rules": [{"name": "demo-request", "event": "form.submitted", "points": 60}],
    "tiers": [{"name": "cold", "min": 0}, {"name": "mql", "min": 50}],
}


@dataclass
class Recorded:
    """What the rule layer and the sync recorded, as the store holds it: audit rows (in order) and events."""

    audit: list[AuditRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def write(self, effect: Effect, at: datetime) -> None:
        self.audit.append(AuditRow(at=at, rule=effect.rule, contact_id=effect.contact_id, effect_key=effect.key,
                                   kind=effect.kind, reason=effect.reason, detail=effect.model_dump_json()))

    def event(self, type_: str, contact: str, at: datetime, source: str = "crm", **data: Any) -> None:
        self.events.append(Event(id=event_id(type_, contact, at.isoformat(), source), type=type_, contact_id=contact,
                                 occurred_at=at, source=source, data=data))

    def writes(self) -> list[RuleWrite]:
        return [RuleWrite(row.at, row.rule, row.contact_id, row.kind, row.effect_key, json.loads(row.detail))
                for row in self.audit]


def tier(world: Recorded, contact: str, value: str, at: datetime) -> None:
    world.write(SetFields(key=effect_key("set_fields", contact, value, at.isoformat()), contact_id=contact,
                          rule="scoring", reason=f"tier {value}", fields={"threadline_score": "60", TIER: value}), at)


def assign(world: Recorded, contact: str, owner: str, at: datetime, due: timedelta = D) -> str:
    """The owner write and the follow-up task an assignment records; returns the task's key."""
    world.write(SetFields(key=effect_key("set_fields", contact, "owner", owner), contact_id=contact,
                          rule="assignment:everyone", reason="round robin", fields={OWNER: owner}), at)
    task = CreateTask(key=effect_key("create_task", contact, "follow-up", owner), contact_id=contact,
                      rule="assignment:everyone", reason="round robin", owner_id=owner,
                      subject=f"Follow up: {contact}", body="", due_at=at + due, priority="HIGH")
    world.write(task, at)
    return task.key


def handoff(world: Recorded, contact: str, owner: str, *, mql: datetime, wait: timedelta) -> str:
    tier(world, contact, "mql", mql)
    return assign(world, contact, owner, mql + wait)


def email(world: Recorded, contact: str, mailbox: str, at: datetime, **data: Any) -> None:
    world.event("email.sent", contact, at, f"mailbox:{mailbox}", mailbox=mailbox, subject="Hi", **data)


def ten_contacts() -> Recorded:
    """Ann (A) gets c01-c05, Ben (B) c06-c10; every follow-up task is due a day after its assignment.

    c01 Ann emails after 1h, completes the task after 2h (kept); c02 task done after 3h (kept); c03 emails after
    5h, completes the task after 30h (breached: late); c04 never touched, escalated by the runner (breached,
    waiting); c05 emailed after 20m, task not due yet (open); c06 Ben emails after 2h, task done (kept); c07 email
    after 10h, task still open past due (breached); c08 untouched, not due (open, waiting); c09 task done after
    6h (kept); c10 gets mail from Ann's mailbox and a sequence step from Ben's: neither is Ben's touch (open,
    waiting)."""
    w = Recorded()
    recent = NOW - 12 * H                                   # due after NOW: still open
    tier(w, "c02", "cold", T0 - D)                         # scored before it was an MQL
    k01 = handoff(w, "c01", "A", mql=T0, wait=0 * H)
    k02 = handoff(w, "c02", "A", mql=T0 + D, wait=1 * H)
    k03 = handoff(w, "c03", "A", mql=T0 + 2 * D, wait=2 * H)
    handoff(w, "c04", "A", mql=T0 + 3 * D, wait=3 * H)
    handoff(w, "c05", "A", mql=recent - 30 * M, wait=30 * M)
    k06 = handoff(w, "c06", "B", mql=T0, wait=15 * M)
    handoff(w, "c07", "B", mql=T0 + D, wait=4 * H)
    handoff(w, "c08", "B", mql=recent - 45 * M, wait=45 * M)
    k09 = handoff(w, "c09", "B", mql=T0 + 2 * D, wait=D)
    handoff(w, "c10", "B", mql=recent, wait=0 * H)
    assigned = {row.contact_id: row.at for row in w.audit if row.kind == "set_fields" and row.rule != "scoring"}
    email(w, "c01", "ann@northwind.example", assigned["c01"] + H)
    w.event("task.completed", "c01", assigned["c01"] + 2 * H, key=k01)
    w.event("task.completed", "c02", assigned["c02"] + 3 * H, key=k02)
    email(w, "c03", "ann@northwind.example", assigned["c03"] + 5 * H)
    w.event("task.completed", "c03", assigned["c03"] + 30 * H, key=k03)
    email(w, "c04", "ann@northwind.example", assigned["c04"] - H)                # before the handoff: no touch
    email(w, "c05", "Ann@Northwind.example", assigned["c05"] + 20 * M)
    email(w, "c06", "ben@northwind.example", assigned["c06"] + 2 * H)
    w.event("task.completed", "c06", assigned["c06"] + 150 * M, key=k06)
    email(w, "c07", "ben@northwind.example", assigned["c07"] + 10 * H)
    w.event("task.completed", "c09", assigned["c09"] + 6 * H, key=k09)
    email(w, "c10", "ann@northwind.example", assigned["c10"] + H)                 # not Ben's mailbox
    email(w, "c10", "ben@northwind.example", assigned["c10"] + H, sequence="welcome", step=0)   # automated
    escalate(w, "c04", "A", assigned["c04"] + D, at=assigned["c04"] + 2 * D)
    return w


def escalate(world: Recorded, contact: str, owner: str, due: datetime, *, at: datetime) -> None:
    """The escalation the runner records for a breached follow-up (breach.py's own effects and keys)."""
    settings = AssignmentSettings.model_validate(ASSIGNMENT)
    facts = ContactFacts(id=contact, fields={OWNER: owner, "email": f"{contact}@acme.example"})
    for effect in breach_effects(facts, due, True, "everyone", settings, AssignmentState(), at):
        world.write(effect, at)


def rules() -> HandoffRules:
    return HandoffRules.from_settings(AssignmentSettings.model_validate(ASSIGNMENT), TIER, MAILBOXES)


def spread(median: timedelta, p90: timedelta, count: int) -> Spread:
    return Spread(count, median, p90)


def test_nearest_rank_takes_an_observed_value_at_rank_ceil_p_n() -> None:
    ten = [n * H for n in range(10, 0, -1)]
    assert (nearest_rank(ten, 50), nearest_rank(ten, 90)) == (5 * H, 9 * H)
    assert (nearest_rank([H, 3 * H], 50), nearest_rank([H, 3 * H], 90)) == (H, 3 * H)   # lower middle
    assert nearest_rank([7 * H], 90) == 7 * H and nearest_rank([], 50) is None
    assert nearest_rank([n * M for n in range(1, 71)], 90) == 63 * M                    # 90 * 70 / 100 exactly


def test_ten_contacts_two_owners_give_exact_medians_p90_waiting_and_sla() -> None:
    world = ten_contacts()
    handoffs = contact_handoffs(world.writes(), world.events, rules())
    tasks = follow_up_tasks(world.writes(), world.events)
    stats = handoff_stats(handoffs, tasks, NOW)

    assert [g.owner_id for g in stats.owners] == ["A", "B"]           # the escalation's owner 999 is no owner
    ann, ben = stats.owners
    assert (ann.handed_off, ann.touched, ann.waiting) == (5, 4, 1)
    assert ann.mql_to_assigned == spread(1 * H, 3 * H, 5)
    assert ann.assigned_to_touch == spread(1 * H, 5 * H, 4)
    assert ann.mql_to_touch == spread(1 * H, 7 * H, 4)
    assert (ann.kept, ann.breached, ann.open) == (2, 2, 1)

    assert (ben.handed_off, ben.touched, ben.waiting) == (5, 3, 2)
    assert ben.mql_to_assigned == spread(45 * M, D, 5)
    assert ben.assigned_to_touch == spread(6 * H, 10 * H, 3)
    assert ben.mql_to_touch == spread(14 * H, 30 * H, 3)
    assert (ben.kept, ben.breached, ben.open) == (2, 1, 2)

    everyone = stats.overall
    assert (everyone.owner_id, everyone.handed_off, everyone.touched, everyone.waiting) == (None, 10, 7, 3)
    assert everyone.mql_to_assigned == spread(45 * M, 4 * H, 10)
    assert everyone.assigned_to_touch == spread(3 * H, 10 * H, 7)
    assert everyone.mql_to_touch == spread(4 * H, 30 * H, 7)
    assert (everyone.kept, everyone.breached, everyone.open) == (4, 3, 3)

    by_contact = {h.contact_id: h for h in handoffs}
    assert by_contact["c02"].mql_at == T0 + D                         # the move into mql, not the cold score
    assert [t.breach_recorded for t in tasks if t.contact_id == "c04"] == [True]
    assert handoff_stats(handoffs, tasks, NOW + 2 * D).overall.open == 0  # time is an input: all due by then


def test_a_reassignment_after_a_breach_hands_the_contact_to_the_new_owner_and_the_breach_stays_with_the_old() -> None:
    w = Recorded()
    tier(w, "c1", "mql", T0)
    assign(w, "c1", "A", T0 + H)
    reassigned = T0 + 2 * D
    w.write(SetFields(key="reassign", contact_id="c1", rule="assignment:everyone", reason="SLA breach: reassigned",
                      fields={OWNER: "B"}), reassigned)
    assign(w, "c1", "B", reassigned)             # the new owner's follow-up
    tier(w, "c1", "cold", reassigned + H)        # decay after the handoff does not move the MQL time
    email(w, "c1", "ann@northwind.example", reassigned + H)        # Ann is no longer the owner
    email(w, "c1", "ben@northwind.example", reassigned + 3 * H)
    [handoff] = contact_handoffs(w.writes(), w.events, rules())
    assert (handoff.owner_id, handoff.mql_at, handoff.assigned_at) == ("B", T0, reassigned)
    assert handoff.assigned_to_touch == 3 * H and handoff.mql_to_touch == 2 * D + 3 * H
    stats = handoff_stats([handoff], follow_up_tasks(w.writes(), w.events), reassigned + 4 * H)
    assert [(g.owner_id, g.handed_off, g.breached, g.open) for g in stats.owners] == [("A", 0, 1, 0), ("B", 1, 0, 1)]


def test_mql_time_is_the_last_move_into_the_trigger_tier_or_the_assignment_without_a_tier_trigger() -> None:
    w = Recorded()
    tier(w, "c1", "mql", T0)
    tier(w, "c1", "cold", T0 + D)
    tier(w, "c1", "mql", T0 + 5 * D)
    assign(w, "c1", "A", T0 + 5 * D + 2 * H)
    assign(w, "c2", "B", T0 + D)                 # its tier was never written by the rules (set by hand)
    first, second = contact_handoffs(w.writes(), [], rules())
    assert (first.mql_at, first.mql_to_assigned) == (T0 + 5 * D, 2 * H)
    assert (second.mql_at, second.mql_to_assigned) == (T0 + D, timedelta(0))
    by_domain = HandoffRules.from_settings(AssignmentSettings.model_validate(
        {**ASSIGNMENT, "trigger": {"contact.domain": {"exists": True}}}), TIER, MAILBOXES)
    assert contact_handoffs(w.writes(), [], by_domain)[0].mql_at == T0 + 5 * D + 2 * H
    with_in = HandoffRules.from_settings(AssignmentSettings.model_validate(
        {**ASSIGNMENT, "trigger": {"score.tier": {"in": ["MQL", "sql"]}}}), TIER, MAILBOXES)
    assert contact_handoffs(w.writes(), [], with_in)[0].mql_at == T0 + 5 * D


def config_for(tmp_path: Path, store_url: str, *, assignment: bool = True) -> Path:
    mailboxes = [{"kind": "gmail", "address": address, "owner_id": owner, "client_id": "cid",
                  "client_secret": "secret", "refresh_token": "refresh"} for address, owner in MAILBOXES.items()]
    config = {"store": {"url": store_url},
              "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"},
              "mailboxes": mailboxes,
              "rules": {"scoring": SCORING, **({"assignment": ASSIGNMENT} if assignment else {})}}
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "report", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "220"})


def stored(tmp_path: Path, world: Recorded, url: str | None = None) -> str:
    url = url or f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    with store.session() as session:
        session.add_all(world.audit)
        record_events(session, world.events)
    store.dispose()
    return url


def test_the_store_read_gives_the_numbers_the_records_give(tmp_path: Path, store_url: str) -> None:
    world = ten_contacts()
    expected = handoff_stats(contact_handoffs(world.writes(), world.events, rules()),
                             follow_up_tasks(world.writes(), world.events), NOW)
    config = config_for(tmp_path, stored(tmp_path, world, store_url))
    settings = parse_settings(yaml.safe_load(config.read_text()), config, env={})
    store = Store(store_url)
    report = build_handoff(store, settings, NOW)
    assert report is not None and report.stats == expected
    assert report.names == {"A": "Ann", "B": "Ben"}
    later = build_handoff(store, settings, NOW, since=NOW - D)        # only c05, c08 and c10 were assigned since
    assert later is not None and (later.stats.overall.handed_off, later.stats.overall.open) == (3, 3)
    store.dispose()


def test_report_shows_the_handoff_section_in_the_terminal_json_and_html(tmp_path: Path) -> None:
    world = ten_contacts()
    # Shifted so "now" (the real clock the command reads) is NOW: c05, c08 and c10 are still open.
    shift = datetime.now(UTC) - NOW
    for row in world.audit:
        row.at += shift
        detail = json.loads(row.detail)
        if "due_at" in detail:
            detail["due_at"] = (datetime.fromisoformat(detail["due_at"]) + shift).isoformat()
            row.detail = json.dumps(detail)
    world.events = [e.model_copy(update={"occurred_at": e.occurred_at + shift}) for e in world.events]
    world.audit = [row for row in world.audit if not row.reason.startswith("SLA breach")]
    escalate(world, "c04", "A", T0 + 3 * D + 3 * H + D + shift, at=T0 + 5 * D + shift)
    config = config_for(tmp_path, stored(tmp_path, world))

    text = report(config)
    assert text.returncode == 0, text.stderr
    assert "no sequences configured" in text.stdout
    assert "Handoff: MQL -> owner -> first touch (median / p90)" in text.stdout
    ann = next(line for line in text.stdout.splitlines() if "A (Ann)" in line)
    assert [cell.strip() for cell in ann.split("│")[1:-1]] == \
        ["A (Ann)", "5", "4", "1", "1.0 h / 3.0 h", "1.0 h / 5.0 h", "1.0 h / 7.0 h", "2", "2", "1"]
    overall = next(line for line in text.stdout.splitlines() if "all owners" in line)
    assert [cell.strip() for cell in overall.split("│")[1:-1]] == \
        ["all owners", "10", "7", "3", "45 min / 4.0 h", "3.0 h / 10.0 h", "4.0 h / 30.0 h", "4", "3", "3"]

    html_path = tmp_path / "report.html"
    as_json = report(config, "--json", "--html", str(html_path))
    assert as_json.returncode == 0, as_json.stderr
    handoff = json.loads(as_json.stdout)["handoff"]
    ben = handoff["owners"][1]
    assert (ben["owner_id"], ben["name"], ben["handed_off"], ben["touched"], ben["waiting"]) == ("B", "Ben", 5, 3, 2)
    assert ben["assigned_to_first_touch"] == {"count": 3, "median_hours": 6.0, "p90_hours": 10.0}
    assert ben["mql_to_assigned"] == {"count": 5, "median_hours": 0.75, "p90_hours": 24.0}
    assert handoff["overall"]["mql_to_first_touch"] == {"count": 7, "median_hours": 4.0, "p90_hours": 30.0}
    assert handoff["overall"]["sla"] == {"kept": 4, "breached": 3, "open": 3}
    html = html_path.read_text()
    assert "<h2>Handoff</h2>" in html and "<td>B (Ben)</td>" in html and "<td>3.0 h / 10.0 h</td>" in html
    assert "<script" not in html


def test_without_assignment_the_section_is_one_line_and_json_null(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 's.db'}", assignment=False)
    text = report(config)
    assert text.returncode == 0, text.stderr
    assert "handoff: no assignment configured (rules.assignment)" in text.stdout
    as_json = report(config, "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["handoff"] is None
    nothing_yet = report(config_for(tmp_path, f"sqlite:///{tmp_path / 's.db'}"))
    assert nothing_yet.returncode == 0 and "handoff: no contact handed off yet" in nothing_yet.stdout


# -- the real path: scoring, assignment and the outbox against the sandbox ---------------------------------------

JANE = "jane.doe@acme-corp.example"


def _mql_world(sandbox: SandboxServer, tmp_path: Path) -> tuple[Any, Any, str, str]:
    """The demo world with Alex (the Gmail mailbox's owner) as the only rep and his outgoing mail logged; a demo
    request makes Jane an MQL, so she gets Alex and a follow-up task."""
    seeded = seed_demo(sandbox)
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    config["sync"]["log_outgoing"] = True      # the rep's own mail to a contact is logged: a touch
    config["rules"] = {"scoring": SCORING, "assignment": {
        "trigger": {"score.tier": "mql"}, "reps": [{"owner_id": seeded["owner_id"], "name": "Alex Morgan"}],
        "rules": [{"name": "everyone", "reps": [seeded["owner_id"]]}],
        "on_breach": {"action": "escalate", "escalate_to": "999"}}}
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    engine.run_once()                       # the backfill: Alex's outreach to Jane is before any handoff
    with engine.store.session() as session:
        [jane] = contacts_for_address(session, JANE)
        record_events(session, [Event(id=event_id("form.submitted", "d1"), type="form.submitted", contact_id=jane,
                                      occurred_at=datetime.now(UTC), source="api", data={"form": "demo"})])
    engine.run_once()
    return engine, settings, jane, seeded["owner_id"]


def _sent_mail(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Alex Morgan <{REP}>", to, "Your demo"
    msg["Date"], msg["Message-ID"] = format_datetime(datetime.now(UTC)), make_msgid(domain="northwind.example")
    msg.set_content("Hi Jane, when suits you for the demo?")
    return msg.as_bytes()


def test_the_owners_sent_mail_and_completed_task_are_the_first_touch_and_keep_the_sla(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    engine, settings, jane, alex = _mql_world(sandbox, tmp_path)
    before = build_handoff(engine.store, settings, datetime.now(UTC))
    assert before is not None
    assert (before.stats.overall.handed_off, before.stats.overall.waiting, before.stats.overall.open) == (1, 1, 1)

    sandbox.gmail.deliver(REP, _sent_mail(JANE), ["SENT"])
    [task] = sandbox.hubspot.tasks_for(jane)
    sandbox.hubspot.complete_task(task["id"])
    engine.run_once()                       # logs the mail (email.sent) and sees the task done (task.completed)
    writes, events = load_handoff_input(engine.store)
    [handoff] = contact_handoffs(writes, events, HandoffRules.from_settings(
        settings.rules.assignment, settings.rules.scoring.fields.tier, {REP: alex}))
    sent = min(e.occurred_at for e in events if e.type == "email.sent" and e.occurred_at >= handoff.assigned_at)
    assert handoff.first_touch_at == sent <= next(e.occurred_at for e in events if e.type == "task.completed")

    after = build_handoff(engine.store, settings, datetime.now(UTC))
    assert after is not None and after.names[alex] == "Alex Morgan"
    [owner] = after.stats.owners
    assert (owner.owner_id, owner.handed_off, owner.touched, owner.waiting) == (alex, 1, 1, 0)
    assert (owner.kept, owner.breached, owner.open) == (1, 0, 0)
    assert owner.mql_to_touch.count == 1 and owner.mql_to_touch.median is not None
    engine.close()


def test_a_breach_the_runner_records_counts_as_breached_and_the_contact_waits(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    engine, settings, jane, alex = _mql_world(sandbox, tmp_path)
    later = datetime.now(UTC) + timedelta(days=10)
    runner = RuleRunner(engine.store, compile_rules(settings.rules))
    assert runner.run_pending(later).intended == 1       # the escalation task
    writes, events = load_handoff_input(engine.store)
    [task] = follow_up_tasks(writes, events)
    assert task.breach_recorded and task.outcome(datetime.now(UTC)) == "breached"   # recorded, whatever the clock
    report = build_handoff(engine.store, settings, later)
    assert report is not None
    [owner] = report.stats.owners                        # the escalation task's owner (999) is no owner
    assert (owner.owner_id, owner.handed_off, owner.waiting, owner.breached, owner.kept) == (alex, 1, 1, 1, 0)
    engine.close()
