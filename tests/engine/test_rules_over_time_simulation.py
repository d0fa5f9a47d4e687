"""180 simulated days of a team's contacts, with a controllable clock (issue #16): random page visits, forms,
replies, unsubscribes, booked meetings, owner changes, hand edits and completed tasks in the HubSpot sandbox,
and daemon cycles at random times. After every cycle:

- `plan` for that moment is empty: the CRM holds what the rules say now;
- the CRM sandbox's score and tier equal what the rules compute (what `explain` shows);
- no CRM write repeats the previous one without a change behind it (a hand edit);
- each follow-up task and each SLA breach task exists once.

CI runs a few derandomized examples; THREADLINE_SOAK=1 runs 100x as many, randomized.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from tests.reliability.strategies import fuzz
from threadline.config.loading import parse_settings
from threadline.connector.wiring.build import build_engine
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.sandbox.server import SandboxServer
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.tables import AuditRow

POINTS_MODEL = Path(__file__).resolve().parents[2] / "config" / "rules" / "points-model.yaml"
CONTACTS = 4
ACTIONS = ("pricing", "case-study", "demo", "reply", "unsubscribe", "meeting", "owner", "edit", "complete")

Action = tuple[str, int]                       # (what, which contact)
Step = tuple[float, list[Action]]              # (hours since the previous step, what happens first)


def steps() -> st.SearchStrategy[list[Step]]:
    hours = st.floats(min_value=1, max_value=24 * 12, allow_nan=False)
    action = st.tuples(st.sampled_from(ACTIONS), st.integers(min_value=0, max_value=CONTACTS - 1))
    return st.lists(st.tuples(hours, st.lists(action, max_size=3)), min_size=8, max_size=25)


class Simulation:
    """One team: HubSpot sandbox contacts and owners, a store, the engine on a clock that only the test moves."""

    def __init__(self, sandbox: SandboxServer) -> None:
        sandbox.reset()
        self.sandbox = sandbox
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now
        sandbox.hubspot.crm.clock_ms = lambda: int(self.now.timestamp() * 1000)   # the CRM's clock too
        self.owners = [sandbox.hubspot.add_owner(f"rep{n}@northwind.example") for n in range(3)]
        self.contacts = [sandbox.hubspot.add_contact(f"buyer{n}@customer{n}.example", firstname=f"Buyer{n}")
                         for n in range(CONTACTS)]
        rules = yaml.safe_load(POINTS_MODEL.read_text())
        rules["scoring"]["custom_events"] = ["page.visited", "form.submitted"]
        rules["max_share"] = 1.0                       # a portal of four: any rule touches a large share
        rules["assignment"] = {
            "trigger": {"score.tier": "mql"}, "only_unowned": True, "owner_field": "hubspot_owner_id",
            "reps": [{"owner_id": o, "name": f"Rep {n}"} for n, o in enumerate(self.owners[:2])],
            "rules": [{"name": "everyone", "reps": self.owners[:2], "strategy": "round_robin"}],
            "sla": {"hours": 24, "calendar": {"timezone": "Europe/Berlin", "holidays": {"country": "DE"}}},
            "on_breach": {"action": "escalate", "escalate_to": self.owners[2]}}
        self.workdir = Path(tempfile.mkdtemp(prefix="threadline-sim-"))
        config = {"store": {"url": f"sqlite:///{self.workdir / 's.db'}"}, "mailboxes": [], "rules": rules,
                  "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                          "search_index_lag": "0s"}}
        self.settings = parse_settings(config, self.workdir / "threadline.yaml", env={})
        self.engine = build_engine(self.settings, clock=lambda: self.now)
        self.runner = RuleRunner(self.engine.store, compile_rules(self.settings.rules))
        self.hand_edits: Counter[str] = Counter()
        self.n = 0

    def close(self) -> None:
        self.engine.close()
        self.sandbox.hubspot.crm.clock_ms = lambda: int(datetime.now(UTC).timestamp() * 1000)

    def event(self, contact: str, type_: str, **data: Any) -> None:
        self.n += 1
        with self.engine.store.session() as session:
            record_events(session, [Event(id=event_id(type_, contact, str(self.n)), type=type_, contact_id=contact,
                                          occurred_at=self.now, source="api", data=data)])

    def act(self, what: str, index: int) -> None:
        contact = self.contacts[index]
        hubspot = self.sandbox.hubspot
        if what in ("pricing", "case-study"):
            self.event(contact, "page.visited", url=f"https://northwind.example/{'pricing' if what == 'pricing' else 'case-studies/x'}")
        elif what == "demo":
            self.event(contact, "form.submitted", form="demo")
        elif what == "reply":
            self.event(contact, "reply.received", text="Thanks, let's talk")
        elif what == "unsubscribe":
            self.event(contact, "unsubscribed", channel="email", via="link")
        elif what == "meeting":
            self.event(contact, "meeting.booked", title="Intro")
        elif what == "owner":                         # a rep takes (or drops) the contact by hand in HubSpot
            current = hubspot.object("contacts", contact).properties.get("hubspot_owner_id")
            hubspot.update_contact(contact, hubspot_owner_id="" if current else self.owners[index % 2])
        elif what == "edit":
            score = hubspot.object("contacts", contact).properties.get("threadline_score")
            if score not in (None, ""):
                hubspot.update_contact(contact, threadline_score=str(int(float(score)) + 7))
                self.hand_edits[contact] += 1
        elif what == "complete":
            for task in hubspot.tasks_for(contact):
                if task["properties"].get("hs_task_status") != "COMPLETED":
                    hubspot.complete_task(task["id"])

    def cycle(self) -> None:
        self.engine.run_once()
        self.check()

    def check(self) -> None:
        at = f"day {(self.now - self.start).total_seconds() / 86400:.1f}"
        evaluation = self.runner.evaluate(None, self.now)
        assert evaluation.effects == [], (at, [(e.contact_id, e.reason) for e in evaluation.effects])
        for contact in self.contacts:
            props = self.sandbox.hubspot.object("contacts", contact).properties
            result = evaluation.scores[contact]
            assert (props.get("threadline_score"), props.get("threadline_score_tier") or None) == (
                str(result.total), result.tier), (at, contact)
        with self.engine.store.session() as session:
            rows = session.exec(select(AuditRow).order_by(AuditRow.id)).all()  # type: ignore[arg-type]
        repeats: Counter[str] = Counter()
        last: dict[str, str] = {}
        for row in rows:
            if row.rule == "scoring":
                fields = yaml.safe_dump(sorted(yaml.safe_load(row.detail)["fields"].items()))
                if last.get(row.contact_id) == fields:
                    repeats[row.contact_id] += 1
                last[row.contact_id] = fields
        for contact, n in repeats.items():
            assert n <= self.hand_edits[contact], (at, contact, n)     # a repeat answers a hand edit, only
        for contact in self.contacts:
            subjects = [(t["properties"].get("hs_task_subject"), t["properties"].get("hs_timestamp"))
                        for t in self.sandbox.hubspot.tasks_for(contact)]
            assert len(subjects) == len(set(subjects)), (at, contact, subjects)
            breached = [s for s, _ in subjects if str(s).startswith("SLA breached")]
            follow_ups = [s for s, _ in subjects if not str(s).startswith("SLA breached")]
            assert len(breached) <= len(follow_ups), (at, contact, subjects)


def run(sandbox: SandboxServer, plan: list[Step]) -> None:
    sim = Simulation(sandbox)
    try:
        sim.cycle()
        total = sum(hours for hours, _ in plan)
        scale = min(1.0, 180 * 24 / total) if total else 1.0          # the steps span at most 180 days
        for hours, actions in plan:
            sim.now += timedelta(hours=hours * scale)
            for what, index in actions:
                sim.act(what, index)
            sim.cycle()
        sim.now = sim.start + timedelta(days=180)                      # and the quiet rest of the half year
        sim.cycle()
    finally:
        sim.close()


@fuzz(ci_examples=3)
@given(plan=steps())
def test_180_days_of_a_team_keep_the_crm_equal_to_the_rules(sandbox: SandboxServer, plan: list[Step]) -> None:
    run(sandbox, plan)


def test_a_quiet_mql_decays_out_of_mql_and_its_sla_fires_once(sandbox: SandboxServer) -> None:
    """A fixed path through the same world: demo + pricing make an MQL, an owner and a task; nobody does it;
    the breach escalates once; 180 quiet days take the contact back to warm, then cold, step by step."""
    run(sandbox, [(1, [("demo", 0), ("pricing", 0), ("pricing", 0), ("reply", 0)]), (30, []), (48, []),
                  (24 * 40, []), (24 * 60, [])])
