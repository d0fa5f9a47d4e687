"""plan / explain / audit from the command line, and rules that do not validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.engine.test_rules_end_to_end import JANE, rules
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.sandbox.server import SandboxServer


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_plan_shows_changes_without_writing_then_apply_records_them_and_audit_lists_them(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    reps = [sandbox.hubspot.add_owner(f"rep{n}@northwind.example") for n in range(2)]
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded)
    config["rules"] = rules("hubspot", reps)
    config["rules"]["scoring"]["rules"][1].update(points=50, cap=None)   # a reply alone makes an MQL here
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    config_without_rules = {**config, "rules": {}}
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(config_without_rules))
    assert cli(tmp_path / "plain.yaml", "sync", "--once").returncode == 0     # mirror + events, no rules yet

    plan = cli(path, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["summary"]["create task"] == 3 and planned["summary"]["set hubspot_owner_id"] == 3
    # Contacts are named next to their ids: "Jane ... <jane@...>", in the JSON and in the table's lines.
    assert any(JANE in (change["contact"] or "") for change in planned["changes"])
    assert f"<{JANE}>" in cli(path, "plan").stdout
    assert all(not sandbox.hubspot.tasks_for(c.id) for c in sandbox.hubspot.contacts)   # plan wrote nothing

    applied = cli(path, "plan", "--apply")
    assert applied.returncode == 0 and "recorded" in applied.stdout
    # The header agrees with what happened: recorded, not "nothing has been written".
    assert "being recorded now" in applied.stdout and "nothing has been written" not in applied.stdout
    synced = cli(path, "sync", "--once")
    assert synced.returncode == 0
    assert sum(len(sandbox.hubspot.tasks_for(c.id)) for c in sandbox.hubspot.contacts) == 3
    # The summary counts the rule writes it made (it said "0 contact updates" and nothing else).
    assert "3 tasks created" in synced.stdout and "rule field writes" in synced.stdout
    assert json.loads(cli(path, "plan", "--json").stdout)["changes"] == []

    audit = json.loads(cli(path, "audit", "--json").stdout)
    assert {a["rule"] for a in audit} == {"scoring", "assignment:everyone"}
    assert any(JANE in (a["contact"] or "") for a in audit) and f"<{JANE}>" in cli(path, "audit").stdout
    explained = cli(path, "explain", JANE)
    assert explained.returncode == 0 and "replied" in explained.stdout and "assignment:" in explained.stdout
    assert f"<{JANE}>" in explained.stdout.splitlines()[0]


def test_rules_that_do_not_validate_stop_every_command_with_exit_2_and_the_path(sandbox: SandboxServer,
                                                                                tmp_path: Path) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", {"owner_id": "1", "refresh_token": "x"})
    config["rules"] = {"scoring": {"rules": [{"name": "typo", "event": "page.vist", "points": 5}]}}
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in (["plan"], ["sync", "--once"], ["status"]):
        result = cli(path, *command)
        assert result.returncode == 2, (command, result.stderr)
        assert "rules.scoring.rules[0].event" in result.stderr and "page.vist" in result.stderr
