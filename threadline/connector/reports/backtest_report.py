"""`threadline backtest`: replay the stored events of a window through proposed scoring rules and the current
ones, and show (console, --json, --html) what each would have made of the contacts. Writes nothing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from threadline.config.loading import ConfigError
from threadline.config.models import Settings
from threadline.connector.reports.backtest_console import print_backtest
from threadline.connector.reports.backtest_data import StoreNotCurrent, open_read_only, replay_store
from threadline.connector.reports.backtest_html import backtest_html
from threadline.connector.reports.backtest_json import backtest_json
from threadline.connector.reports.backtest_rules import load_proposed
from threadline.connector.reports.rule_plans import contact_labels
from threadline.rules.scoring import compile_scoring
from threadline.rules.scoring.backtest import SALES_STAGES, Backtest, OutcomeRules, Window


@dataclass(frozen=True)
class BacktestOptions:
    """What the command line asked for."""

    rules_file: Path
    window: Window
    as_json: bool = False
    html: Path | None = None
    detail: int = 20
    outcome_stages: tuple[str, ...] = SALES_STAGES


def run_backtest(console: Console, err: Console, settings: Settings, options: BacktestOptions) -> int:
    """The whole command; returns the exit code (2: bad rules file or a store that needs upgrading)."""
    try:
        proposed = load_proposed(options.rules_file)
    except ConfigError as exc:
        err.print(exc.render(), markup=False, highlight=False)
        return 2
    scoring = settings.rules.scoring
    current = compile_scoring(scoring) if scoring is not None else None
    stage_field = (scoring or proposed.settings).fields.stage
    outcomes = OutcomeRules(stage_field=stage_field, stages=options.outcome_stages)
    backtest = Backtest(proposed, current, options.window, outcomes, detail=options.detail)
    try:
        store = open_read_only(settings.store.url)
    except StoreNotCurrent as exc:
        err.print(f"threadline backtest: {exc}", markup=False, highlight=False)
        return 2
    try:
        owner_field = settings.rules.assignment.owner_field if settings.rules.assignment else None
        replay_store(store, backtest, owner_field=owner_field)
        labels = contact_labels(store, {c.contact_id for c in backtest.changes.first})
    finally:
        store.dispose()
    data = backtest_json(backtest, labels)
    if options.html is not None:
        options.html.write_text(backtest_html(data), encoding="utf-8")
    if options.as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        print_backtest(console, data)
        if options.html is not None:
            console.print(f"HTML report written to {options.html}", markup=False, highlight=False)
    return 0
