"""A backtest reads the mirror in keyset batches (one batch of contacts and their events in memory at a time),
keeps only fixed-size counts, and its numbers do not depend on the batch size."""

from __future__ import annotations

from datetime import timedelta

from tests.rules.scoring.backtest_history import CURRENT, DAY0, PROPOSED, add_contacts, add_events, simulate
from threadline.connector.reports.backtest_data import Batch, open_read_only, replay_store
from threadline.rules.scoring import ScoringSettings, compile_scoring
from threadline.rules.scoring.backtest import Backtest, OutcomeRules, Window
from threadline.sync.store.database import Store

END = DAY0 + timedelta(days=70)


def fresh_backtest(detail: int) -> Backtest:
    return Backtest(compile_scoring(ScoringSettings.model_validate(PROPOSED)),
                    compile_scoring(ScoringSettings.model_validate(CURRENT)),
                    Window(END - timedelta(days=56), END), OutcomeRules(), detail=detail)


def test_the_pass_holds_one_batch_at_a_time_and_counts_alike_whatever_the_batch_size(store_url: str) -> None:
    url = store_url
    history = simulate()
    store = Store(url)
    add_contacts(store, history)
    add_events(store, history.events)
    # A merged contact is not live: the daemon does not score it, nor does the backtest.
    store.engine.dispose()
    with Store(url).engine.begin() as connection:
        connection.exec_driver_sql("UPDATE contacts SET merged_into = 'c00' WHERE crm_id = 'c39'")

    batches: list[Batch] = []
    small = fresh_backtest(detail=2)
    assert replay_store(open_read_only(url), small, batch_size=7, on_batch=batches.append) == 39
    whole = fresh_backtest(detail=2)
    assert replay_store(open_read_only(url), whole, batch_size=1000) == 39

    assert [len(b.contact_ids) for b in batches] == [7, 7, 7, 7, 7, 4]          # never more than 7 at once
    assert [c for b in batches for c in b.contact_ids] == sorted(c for c in history.contacts if c != "c39")
    live_events = sum(1 for e in history.events if e.contact_id != "c39")
    assert sum(b.events for b in batches) == live_events and max(b.events for b in batches) < live_events / 2
    for label in ("current", "proposed"):
        a, b = small.sides[label], whole.sides[label]
        assert (a.contacts, a.mqls, a.mql_at_start, a.histogram, a.tiers, a.mqls_by_week) == (
            b.contacts, b.mqls, b.mql_at_start, b.histogram, b.tiers, b.mqls_by_week)
        assert [(n, c.contacts, c.mqls, c.outcomes) for n, c in a.band_rows()] == [
            (n, c.contacts, c.mqls, c.outcomes) for n, c in b.band_rows()]
    # The tier changes keep a count of all and the first `detail` contacts only.
    assert small.changes.total == whole.changes.total > 2 and len(small.changes.first) == 2
    assert small.changes.first == whole.changes.first
