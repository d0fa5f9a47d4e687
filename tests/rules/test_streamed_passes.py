"""Rules passes over the whole mirror stream it in batches (issue #18) and stay exact.

The `rules.max_share` guard judges a whole pass, not a batch: a rule over the share is held even when no batch
alone is over it, and one under the share is applied even when it is concentrated in one batch. A crash between
batches resumes after the last recorded one without repeating an effect. `plan --json` prints what it printed
when the whole mirror was evaluated in one list.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlmodel import col, func, select

from threadline.connector.reports.rule_plans import PlanChanges, plan_header, plan_json
from threadline.rules.runner import RULES_PASS, RuleRunner, compile_rules
from threadline.rules.settings import RulesSettings
from threadline.rules.store import load_rule_state
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow, EventRow, OutboxRow, SyncErrorRow

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CONTACTS = 40
BATCH = 5
SPREAD = list(range(0, CONTACTS, 3))[:12]                   # 12 of 40 (30% > 20%), at most 2 in a batch of 5
RULES: dict[str, Any] = {
    "max_share": 0.2, "min_contacts_for_share_check": 1,
    "scoring": {"rules": [{"name": "saas", "event": "contact.created",
                           "where": {"contact.industry": {"in": ["SaaS"]}}, "points": 15, "dimension": "fit"}],
                "tiers": [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}]},
}


def runner_for(url: str, **options: Any) -> RuleRunner:
    return RuleRunner(Store(url), compile_rules(RulesSettings.model_validate(RULES)), batch_size=BATCH, **options)


def seed(url: str, touched: list[int]) -> None:
    """CONTACTS contacts with a contact.created event each; all but `touched` already hold their score."""
    store = Store(url)
    ids = [f"c{n:02d}" for n in range(CONTACTS)]
    with store.engine.begin() as connection:
        connection.execute(insert(ContactRow.__table__), [  # type: ignore[attr-defined]
            {"crm_id": cid, "object_type": "contact", "primary_email": f"{cid}@acme{n}.example", "first_name": "P",
             "last_name": cid, "company": "Acme", "owner_id": None, "updated_at": NOW - timedelta(days=9),
             "merged_into": None, "deleted": False, "properties": json.dumps({"industry": "SaaS"})}
            for n, cid in enumerate(ids)])
        connection.execute(insert(EventRow.__table__), [  # type: ignore[attr-defined]
            {"id": f"created-{cid}", "type": "contact.created", "contact_id": cid, "source": "crm", "data": "{}",
             "occurred_at": NOW - timedelta(days=10)} for cid in ids])
    # The CRM already holds what the rules say for everyone but `touched`: write their score into the mirror.
    effects = RuleRunner(store, compile_rules(RulesSettings.model_validate(RULES))).evaluate(None, NOW).effects
    settled = {e.contact_id: e for e in effects if int(e.contact_id[1:]) not in touched}
    with store.engine.begin() as connection:
        for cid, effect in settled.items():
            fields = {"industry": "SaaS", **effect.fields}       # type: ignore[attr-defined]
            connection.execute(update(ContactRow.__table__).where(  # type: ignore[attr-defined]
                ContactRow.__table__.c.crm_id == cid).values(properties=json.dumps(fields)))  # type: ignore[attr-defined]


def outbox_keys(url: str) -> list[str]:
    with Store(url).session() as session:
        return sorted(session.exec(select(OutboxRow.key)).all())


def held_messages(url: str) -> list[str]:
    with Store(url).session() as session:
        return [e.message for e in session.exec(select(SyncErrorRow)).all() if "would change" in e.message]


@pytest.mark.parametrize("stream_above", [100_000, 0], ids=["id-list", "keyset"])
def test_a_rule_over_the_share_is_held_though_no_batch_alone_is_over_it(sqlite_url: str, stream_above: int) -> None:
    seed(sqlite_url, SPREAD)
    runner = runner_for(sqlite_url, stream_above=stream_above)
    # The trap: each batch judged on its own is under the limit (2 of 40 < 8), so batch-by-batch would apply it.
    batches = [[f"c{n:02d}" for n in range(s, s + BATCH)] for s in range(0, CONTACTS, BATCH)]
    assert all(runner.evaluate(b, NOW).blocked_rules(runner.rules.settings) == [] for b in batches)
    assert runner.evaluate(None, NOW).blocked_rules(runner.rules.settings) == ["scoring"]   # the whole pass: held

    summary = runner.run_pending(NOW)

    assert summary.blocked == ["scoring"] and summary.intended == 0
    assert outbox_keys(sqlite_url) == []
    [message] = held_messages(sqlite_url)
    assert "rule scoring would change 12 of 40 contacts" in message and "plan --apply --confirm" in message
    assert runner.run_pending(NOW).intended == 0               # the events are consumed: nothing new to decide
    assert runner.tally(NOW).held(runner.rules.settings) == ["scoring"]     # plan still shows it held


@pytest.mark.parametrize("stream_above", [100_000, 0], ids=["id-list", "keyset"])
def test_a_rule_under_the_share_is_applied_though_one_batch_is_all_touched(sqlite_url: str, stream_above: int) -> None:
    seed(sqlite_url, [0, 1, 2, 3, 4, 5])                   # 6 of 40 (15%), the first batch entirely
    runner = runner_for(sqlite_url, stream_above=stream_above)
    planned = sorted(e.key for e in runner.evaluate(None, NOW).effects)
    summary = runner.run_pending(NOW)
    assert (summary.blocked, summary.intended, summary.evaluated) == ([], 6, CONTACTS)
    assert outbox_keys(sqlite_url) == planned and len(planned) == 6
    assert held_messages(sqlite_url) == []
    with Store(sqlite_url).session() as session:
        assert load_rule_state(session, RULES_PASS) == {}            # the pass finished: no progress left


CRASHING_STEP = """
import sys
from datetime import datetime
from tests.rules.test_streamed_passes import runner_for
runner_for(sys.argv[1], stream_above=int(sys.argv[2])).run_pending(datetime.fromisoformat(sys.argv[3]))
"""


@pytest.mark.parametrize("stream_above", [100_000, 0], ids=["id-list", "keyset"])
def test_a_crash_between_batches_resumes_after_the_last_recorded_one_without_repeating(
        tmp_path: Path, stream_above: int) -> None:
    touched = list(range(0, 32, 4))                         # 8 of 40: exactly the limit, applied
    crashed, reference = f"sqlite:///{tmp_path / 'crashed.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
    for url in (crashed, reference):
        seed(url, touched)
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", CRASHING_STEP, crashed, str(stream_above), NOW.isoformat()],
                         cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "THREADLINE_CRASH_AT": "rules.after_batch_commit:3"})
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    with Store(crashed).session() as session:
        progress = load_rule_state(session, RULES_PASS)
        audits_before = session.exec(select(func.count()).select_from(AuditRow)).one()
    assert progress["after"] == f"c{3 * BATCH - 1:02d}"     # three batches recorded, then killed
    assert audits_before == len([n for n in touched if n < 3 * BATCH]) > 0     # those of c00..c14

    resumed = runner_for(crashed, stream_above=stream_above).run_pending(NOW)

    assert resumed.evaluated == CONTACTS - 3 * BATCH         # only the batches not yet recorded
    assert resumed.intended == len(touched) - audits_before
    expected = runner_for(reference, stream_above=stream_above).run_pending(NOW)
    assert expected.intended == len(touched)
    assert outbox_keys(crashed) == outbox_keys(reference)
    with Store(crashed).session() as session:
        assert session.exec(select(func.count()).select_from(AuditRow)).one() == len(touched)
        assert load_rule_state(session, RULES_PASS) == {}
        cursor = session.exec(select(func.max(EventRow.seq))).one()
        assert load_rule_state(session, "events_cursor") == {"seq": cursor}


def test_streamed_plan_prints_what_one_evaluation_of_everyone_printed(sqlite_url: str) -> None:
    seed(sqlite_url, SPREAD)
    runner = runner_for(sqlite_url)
    whole = runner.evaluate(None, NOW)                       # the pre-streaming plan: one list of everything
    blocked = whole.blocked_rules(runner.rules.settings)
    from threadline.connector.reports.rule_plans import contact_labels
    labels = contact_labels(runner.store, {e.contact_id for e in whole.effects})
    extra = {"sequence_hours": 24.0, "sequence_steps": []}
    before = json.dumps({**plan_json(whole, blocked, labels), **extra}, indent=2, default=str) + "\n"

    changes = PlanChanges(runner.store)
    tally = runner.tally(NOW, sample=3, on_batch=changes.add)
    out = io.StringIO()
    changes.write(out, {**plan_header(tally, tally.held(runner.rules.settings)), **extra})

    assert out.getvalue() == before
    assert len(json.loads(before)["changes"]) == len(SPREAD)
    assert tally.sample == whole.effects[:3] and tally.effects == len(whole.effects)
    assert (tally.contacts, tally.total_contacts) == (whole.contacts, whole.total_contacts) == (CONTACTS, CONTACTS)


def test_plan_json_with_no_changes_prints_an_empty_list(sqlite_url: str) -> None:
    seed(sqlite_url, [])
    runner = runner_for(sqlite_url)
    changes = PlanChanges(runner.store)
    tally = runner.tally(NOW, on_batch=changes.add)
    out = io.StringIO()
    changes.write(out, plan_header(tally, []))
    assert out.getvalue() == json.dumps(plan_json(runner.evaluate(None, NOW), []), indent=2) + "\n"
    assert json.loads(out.getvalue())["changes"] == []


def test_plan_apply_records_every_batch_and_settles_the_rule_set(sqlite_url: str) -> None:
    seed(sqlite_url, SPREAD)
    runner = runner_for(sqlite_url)
    summary = runner.apply_all(NOW)                          # `plan --apply --confirm`: nothing held
    assert (summary.intended, summary.evaluated) == (len(SPREAD), CONTACTS)
    assert runner.tally(NOW).effects == 0          # pending writes count as done: the plan is empty
    with Store(sqlite_url).session() as session:
        assert load_rule_state(session, "rules_fingerprint") == {"fingerprint": runner.rules.settings.fingerprint()}
        assert session.exec(select(func.count()).select_from(OutboxRow).where(
            col(OutboxRow.kind) == "set_fields")).one() == len(SPREAD)
