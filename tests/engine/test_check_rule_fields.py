"""`threadline check` knows what the rules will write: every CRM field the scoring and assignment write is
looked up in the CRM's real schema, on both CRMs, and a missing one is named with the setting that writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from threadline.connector.demo.run import demo_config, seed_demo
from threadline.sandbox.server import SandboxServer

POINTS_MODEL = Path(__file__).resolve().parents[2] / "config" / "rules" / "points-model.yaml"


def check(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "threadline", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_hubspot_has_or_creates_every_field_the_example_rules_write(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(sandbox))
    config["rules"] = yaml.safe_load(POINTS_MODEL.read_text())
    done = check(config, tmp_path)
    assert "field threadline_score" in done.stdout and "created at start" in done.stdout, done.stdout
    assert "have no field" not in done.stdout


def test_salesforce_names_each_missing_field_and_the_setting_that_writes_it(tls_sandbox: SandboxServer,
                                                                          tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce")
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["rules"] = yaml.safe_load(POINTS_MODEL.read_text())       # HubSpot's field names, as shipped
    done = check(config, tmp_path)
    assert done.returncode == 1
    assert ("salesforce Contact and Lead have no field 'threadline_score', which rules.scoring.fields.total "
            "writes: create it in salesforce, or set rules.scoring.fields.total to a field it has") in done.stdout
    # Mapped to Salesforce's own fields, the same rules pass this part of the check.
    config["rules"]["scoring"]["fields"] = {"total": "Threadline_Score__c", "tier": "Threadline_Tier__c",
                                           "fit": "Threadline_Score__c", "intent": "Threadline_Score__c",
                                           "stage": "Threadline_Stage__c"}
    for name in ("Threadline_Score__c", "Threadline_Tier__c", "Threadline_Stage__c"):
        for record in ("Contact", "Lead"):
            tls_sandbox.salesforce.add_custom_field(record, name, "double" if "Score" in name else "string")
    again = check(config, tmp_path)
    assert "have no field" not in again.stdout, again.stdout
    assert again.returncode == 0, again.stdout
