"""THE equivalence: a backtest's numbers equal what the daemon (and `plan --apply`) would have done with the
proposed rules. One simulated history of 40 contacts over 10 weeks is (a) stored whole and backtested at the
end, and (b) fed in time order to a fresh store whose current rules are the proposed ones, with the real
RuleRunner stepping every 4 hours as the daemon does. The contacts that became MQL in the window, the moment
each did, their outcomes and every final tier are the same."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from tests.rules.scoring.backtest_history import (
    CURRENT,
    DAY0,
    DAYS,
    PROPOSED,
    STEP,
    History,
    add_contacts,
    add_events,
    apply_changes,
    simulate,
)
from threadline.connector.reports.backtest_data import Batch, open_read_only, replay_store
from threadline.rules.runner import RuleRunner, compile_rules
from threadline.rules.scoring import ScoringSettings, compile_scoring
from threadline.rules.scoring.backtest import Backtest, OutcomeRules, Window
from threadline.rules.settings import RulesSettings
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow

START, END = DAY0 + timedelta(days=14), DAY0 + timedelta(days=DAYS)
THRESHOLD = 45                                    # PROPOSED's mql tier
RULES = RulesSettings.model_validate({"scoring": PROPOSED, "max_share": 1.0})


def backtested(url: str, history: History, batch_size: int = 7,
               batches: list[Batch] | None = None) -> Backtest:
    store = Store(url)
    add_contacts(store, history)
    add_events(store, history.events)
    backtest = Backtest(compile_scoring(ScoringSettings.model_validate(PROPOSED)),
                        compile_scoring(ScoringSettings.model_validate(CURRENT)), Window(START, END),
                        OutcomeRules(), detail=100)
    replay_store(open_read_only(url), backtest, batch_size=batch_size, on_batch=batches.append if batches else None)
    return backtest


def new_writes(store: Store, after: int) -> list[AuditRow]:
    with store.session() as session:
        return list(session.exec(select(AuditRow).where(col(AuditRow.id) > after, AuditRow.rule == "scoring")
                                 .order_by(col(AuditRow.id))).all())


def run_daemon(url: str, history: History) -> tuple[dict[str, datetime], dict[str, str], set[str]]:
    """The proposed rules as the current ones, the events arriving as they happened, a rules step every 4 hours
    (and at each event). Returns each contact's first rise to the threshold after START, its last tier, and the
    contacts whose rise came after decay or a reset had taken them back below it."""
    store = Store(url)
    add_contacts(store, history, as_on_day0=True)
    runner = RuleRunner(store, compile_rules(RULES), batch_size=7)
    totals: dict[str, int] = {}
    tiers: dict[str, str] = {}
    became: dict[str, datetime] = {}
    was_mql: set[str] = set()
    again: set[str] = set()
    seen, moment = 0, DAY0
    while moment <= END:
        arriving = history.at(moment)
        apply_changes(store, arriving)
        add_events(store, arriving)
        runner.run_pending(moment)
        for row in new_writes(store, seen):
            fields = json.loads(row.detail)["fields"]
            before = totals.get(row.contact_id, 0)
            if "threadline_score" in fields:
                totals[row.contact_id] = int(fields["threadline_score"])
            if "threadline_score_tier" in fields:
                tiers[row.contact_id] = fields["threadline_score_tier"]
            rose = before < THRESHOLD <= totals.get(row.contact_id, 0)
            if rose and moment > START and row.contact_id not in became:
                became[row.contact_id] = moment
                if row.contact_id in was_mql:
                    again.add(row.contact_id)
            if totals.get(row.contact_id, 0) >= THRESHOLD:
                was_mql.add(row.contact_id)
            seen = max(seen, row.id or 0)
        moment += STEP
    return became, tiers, again


def planned_tiers(url: str, history: History) -> dict[str, str]:
    """`plan --apply` at the end on a store holding the whole history: the tier it records per contact."""
    store = Store(url)
    add_contacts(store, history)
    add_events(store, history.events)
    RuleRunner(store, compile_rules(RULES), batch_size=7).apply_all(END)
    return {row.contact_id: json.loads(row.detail)["fields"]["threadline_score_tier"]
            for row in new_writes(store, 0)}


def outcomes_of(history: History, contact: str, moment: datetime) -> set[str]:
    """Written out again for the check: meeting / deal / stage events from the MQL moment to 30 days later."""
    found = set()
    for e in history.events:
        if e.contact_id != contact or not moment <= e.occurred_at <= min(moment + timedelta(days=30), END):
            continue
        if e.type == "meeting.booked":
            found.add("meeting")
        elif e.type == "deal.created" or (e.type == "contact.updated" and e.data["field"] == "num_associated_deals"):
            found.add("deal")
        elif e.type == "contact.updated" and e.data["new"] == "salesqualifiedlead":
            found.add("stage")
    return found


def test_the_backtest_equals_what_the_daemon_and_plan_apply_did_with_the_proposed_rules(tmp_path: Path,
                                                                                         store_url: str) -> None:
    # The backtest reads the store under test (SQLite and PostgreSQL); the daemon and plan --apply runs it is
    # checked against keep SQLite stores of their own.
    history = simulate()
    backtest = backtested(store_url, history, batch_size=7)
    became, daemon_tiers, again = run_daemon(f"sqlite:///{tmp_path / 'daemon.db'}", history)
    applied_tiers = planned_tiers(f"sqlite:///{tmp_path / 'planned.db'}", history)

    proposed = backtest.proposed
    replayed = _replayed_mql_moments(store_url, history)
    assert replayed == became                                    # the same contacts, each at the same moment
    enriched = {(e.contact_id, e.occurred_at) for e in history.events
                if e.type == "contact.updated" and e.data["field"] == "industry"}
    assert set(became.items()) & enriched                        # some crossed when their industry arrived
    assert proposed.mqls == len(became) >= 5                     # and the history is not a trivial one
    assert again                                                 # some fell below (decay) and rose again
    weeks: dict[int, int] = {}
    for moment in became.values():
        week = min((moment - START) // timedelta(days=7), 7)          # 8 weeks; the end belongs to the last
        weeks[week] = weeks.get(week, 0) + 1
    assert dict(proposed.mqls_by_week) == weeks

    final = _final_tiers(history)
    assert final == daemon_tiers == applied_tiers                # every contact's tier at the end
    assert dict(proposed.tiers) == _count(final.values())

    outcomes: dict[str, int] = {}
    for contact, moment in became.items():
        for outcome in outcomes_of(history, contact, moment):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert dict(proposed.all_mqls.outcomes) == outcomes and sum(outcomes.values()) > 0
    assert proposed.all_mqls.any_outcome == sum(1 for c, m in became.items() if outcomes_of(history, c, m))

    current = backtest.current
    assert current is not None and current.contacts == proposed.contacts == len(history.contacts)
    assert current.mqls != proposed.mqls or backtest.changes.total > 0       # the change makes a difference


def _replayed_mql_moments(url: str, history: History) -> dict[str, datetime]:
    """The proposed side's MQL moments per contact (the counters keep only counts, so replay the proposed rules
    alone with every contact listed as a tier change against a rule set that scores nothing)."""
    nothing = compile_scoring(ScoringSettings.model_validate({"tiers": [{"name": "none", "min": 0}]}))
    backtest = Backtest(compile_scoring(ScoringSettings.model_validate(PROPOSED)), nothing, Window(START, END),
                        OutcomeRules(), detail=len(history.contacts))
    replay_store(open_read_only(url), backtest, batch_size=7)
    return {c.contact_id: c.proposed_mql_at for c in backtest.changes.first if c.proposed_mql_at is not None}


def _final_tiers(history: History) -> dict[str, str]:
    scorer = compile_scoring(ScoringSettings.model_validate(PROPOSED))
    from threadline.rules.contact_facts import ContactFacts
    tiers = {}
    for contact, props in history.contacts.items():
        rows = [(e.id, e.type, e.occurred_at, e.source, dict(e.data)) for e in history.events
                if e.contact_id == contact]
        tiers[contact] = scorer.score_rows(ContactFacts(id=contact, fields=props), rows, END).tier or ""
    return tiers


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted
