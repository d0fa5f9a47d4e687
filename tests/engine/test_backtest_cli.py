"""`threadline backtest` from the command line: JSON, HTML, bad rules files, no MQL threshold, and that it
writes nothing (every table's rows checksummed before and after; the CRM in the config is unreachable)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rules.scoring.backtest_history import CURRENT, DAY0, PROPOSED, add_contacts, add_events, simulate
from threadline.connector.reports.backtest_data import open_read_only, replay_store
from threadline.rules.scoring import ScoringSettings, compile_scoring
from threadline.rules.scoring.backtest import Backtest, OutcomeRules, Window
from threadline.sync.store.database import Store

END = "2027-03-15T09:00"                                   # DAY0 + 70 days
WINDOW = ["--since", "56d", "--at", END]


@pytest.fixture
def portal(tmp_path: Path) -> Path:
    """A store holding the simulated history, and a config with the current rules whose CRM never answers."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    history = simulate()
    add_contacts(store, history)
    add_events(store, history.events)
    store.dispose()
    config = {"store": {"url": url}, "mailboxes": [], "rules": {"scoring": CURRENT},
              "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"}}
    (tmp_path / "threadline.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "proposed.yaml").write_text(yaml.safe_dump({"scoring": PROPOSED}))
    return tmp_path


def backtest(portal: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "backtest", *args, "--config",
                           str(portal / "threadline.yaml")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def checksums(db: Path) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of every table."""
    with sqlite3.connect(db) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {}
        for table in tables:
            rows = sorted(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"'))
            found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return found


def test_json_has_stable_keys_and_the_numbers_of_the_backtest(portal: Path) -> None:
    before = checksums(portal / "s.db")
    run = backtest(portal, "--rules", str(portal / "proposed.yaml"), "--json", "--detail", "3", *WINDOW)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert list(data) == ["window", "contacts", "outcomes", "current", "proposed", "tier_changes"]
    assert list(data["proposed"]) == ["mql_threshold", "note", "mqls", "mql_at_start", "mqls_per_week", "histogram",
                                      "tiers", "calibration", "calibration_total"]
    assert data["window"] == {"start": "2027-01-18T09:00:00+00:00", "end": "2027-03-15T09:00:00+00:00", "weeks": 8}
    assert (data["contacts"], data["current"]["mql_threshold"], data["proposed"]["mql_threshold"]) == (40, 50, 45)

    expected = in_process(portal)
    for label, side in (("current", expected.current), ("proposed", expected.proposed)):
        assert side is not None
        assert data[label]["mqls"] == side.mqls and data[label]["mql_at_start"] == side.mql_at_start
        assert [week["mqls"] for week in data[label]["mqls_per_week"]] == [side.mqls_by_week[n] for n in range(8)]
        assert sum(b["contacts"] for b in data[label]["histogram"]) == 40 == sum(data[label]["tiers"].values())
        total = data[label]["calibration_total"]
        assert (total["contacts"], total["mqls"], total["any"]) == (40, side.mqls, side.all_mqls.any_outcome)
        assert sum(row["mqls"] for row in data[label]["calibration"]) == side.mqls
    changes = data["tier_changes"]
    assert changes["total"] == expected.changes.total > changes["listed"] == len(changes["contacts"]) == 3
    assert changes["contacts"][0]["contact"].endswith("@example.com>")
    assert checksums(portal / "s.db") == before                  # nothing written to the store


def in_process(portal: Path) -> Backtest:
    """The same backtest run in this process, for the numbers."""
    from datetime import timedelta
    end = DAY0 + timedelta(days=70)
    result = Backtest(compile_scoring(ScoringSettings.model_validate(PROPOSED)),
                      compile_scoring(ScoringSettings.model_validate(CURRENT)),
                      Window(end - timedelta(days=56), end), OutcomeRules())
    replay_store(open_read_only(f"sqlite:///{portal / 's.db'}"), result)
    return result


def test_console_and_html_write_nothing_and_the_html_is_one_self_contained_file(portal: Path) -> None:
    proposed = {"scoring": {**PROPOSED, "tiers": [{"name": "cold", "min": 0}, {"name": "<b>hot</b>", "min": 20},
                                                   {"name": "mql", "min": 45}]}}
    (portal / "escaped.yaml").write_text(yaml.safe_dump(proposed))
    before = checksums(portal / "s.db")
    run = backtest(portal, "--rules", str(portal / "escaped.yaml"), "--html", str(portal / "report.html"), *WINDOW)
    assert run.returncode == 0, run.stderr
    for title in ("MQLs in the window", "MQLs per week", "score distribution", "tiers at the end", "tier changes",
                  "current: MQLs by score band", "proposed: MQLs by score band", "nothing was written"):
        assert title in run.stdout, title
    html = (portal / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<style>" in html
    assert "<script" not in html.lower() and " src=" not in html and " href=" not in html
    assert "&lt;b&gt;hot&lt;/b&gt;" in html and "<b>hot" not in html        # names are escaped
    assert checksums(portal / "s.db") == before


def test_a_whole_threadline_yaml_is_accepted_as_the_proposed_rules(portal: Path) -> None:
    whole = yaml.safe_load((portal / "threadline.yaml").read_text())
    whole["rules"]["scoring"] = PROPOSED
    (portal / "other.yaml").write_text(yaml.safe_dump(whole))
    from_section = backtest(portal, "--rules", str(portal / "proposed.yaml"), "--json", *WINDOW)
    from_whole = backtest(portal, "--rules", str(portal / "other.yaml"), "--json", *WINDOW)
    assert from_whole.returncode == 0, from_whole.stderr
    assert json.loads(from_whole.stdout) == json.loads(from_section.stdout)


@pytest.mark.parametrize(("content", "where", "expected"), [
    ({"scoring": {**PROPOSED, "rules": [{**PROPOSED["rules"][0], "points": "ten"}]}},
     "scoring.rules[0].points", "expected a valid integer"),
    ({"scoring": {**PROPOSED, "decay": {"points": 5, "every_days": 30}}}, "scoring.decay.points", "expected"),
    ({"scoring": {**PROPOSED, "rules": [{**PROPOSED["rules"][0], "event": "page.visted"}]}},
     "scoring.rules[0].event", "unknown event type"),
    ({"scoring": {**PROPOSED, "colour": "red"}}, "scoring.colour", "is not a known setting"),
    ({"assignment": None}, "scoring", "is required"),
    ({"store": {"url": "sqlite://"}, "rules": {"scoring": {**PROPOSED, "tiers": [{"name": "x"}]}}},
     "rules.scoring.tiers[0].min", "is required"),
    ("scoring: [unclosed", "(YAML syntax)", "line 1"),
    ("".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" if i else "l0: &l0 [x, x, x, x, x]\n"
             for i in range(9)), "(top level)", "YAML aliases that expand"),        # half a billion values
], ids=["type", "range", "unknown-event", "unknown-key", "no-scoring", "whole-config", "yaml", "alias-bomb"])
def test_a_bad_rules_file_exits_2_naming_the_file_the_key_and_what_was_expected(
        portal: Path, content: Any, where: str, expected: str) -> None:
    bad = portal / "bad-rules.yaml"
    bad.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    before = checksums(portal / "s.db")
    run = backtest(portal, "--rules", str(bad), "--html", str(portal / "never.html"), *WINDOW)
    assert run.returncode == 2
    assert str(bad) in run.stderr and where in run.stderr and expected in run.stderr, run.stderr
    assert run.stdout == "" and not (portal / "never.html").exists()     # nothing else happened
    assert checksums(portal / "s.db") == before


def test_rules_without_an_mql_threshold_say_so_instead_of_counting(portal: Path) -> None:
    plain = {"scoring": {**PROPOSED, "tiers": [{"name": "cold", "min": 0}, {"name": "hot", "min": 45}],
                         "stages": []}}
    (portal / "plain.yaml").write_text(yaml.safe_dump(plain))
    run = backtest(portal, "--rules", str(portal / "plain.yaml"), *WINDOW)
    assert run.returncode == 0, run.stderr
    assert "no MQL threshold in these rules" in run.stdout
    data = json.loads(backtest(portal, "--rules", str(portal / "plain.yaml"), "--json", *WINDOW).stdout)
    assert data["proposed"]["note"] == "no MQL threshold in these rules"
    assert data["proposed"]["mqls"] is None and data["proposed"]["calibration"] is None
    assert sum(b["contacts"] for b in data["proposed"]["histogram"]) == 40       # the distribution still shows
    assert data["current"]["mqls"] is not None


def test_a_bad_since_exits_2_with_the_accepted_forms(portal: Path) -> None:
    run = backtest(portal, "--rules", str(portal / "proposed.yaml"), "--since", "lately", "--at", END)
    assert run.returncode == 2 and "--since 'lately'" in run.stderr and "90d" in run.stderr


def test_without_current_scoring_rules_the_proposed_ones_show_alone(portal: Path) -> None:
    config = yaml.safe_load((portal / "threadline.yaml").read_text())
    config["rules"] = {}
    (portal / "threadline.yaml").write_text(yaml.safe_dump(config))
    run = backtest(portal, "--rules", str(portal / "proposed.yaml"), *WINDOW)
    assert run.returncode == 0, run.stderr
    assert "no current scoring rules" in run.stdout and "proposed: MQLs by score band" in run.stdout
    data = json.loads(backtest(portal, "--rules", str(portal / "proposed.yaml"), "--json", *WINDOW).stdout)
    assert data["current"] is None and data["tier_changes"] is None and data["proposed"]["mqls"] > 0
