"""`threadline check` knows what the rules will write: every CRM field the scoring and assignment write is
looked up in the CRM's real schema, on both CRMs, and a missing one is named with the setting that writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from threadline.connector.demo.run import demo_config, seed_demo
from threadline.sandbox.server import SandboxServer

RULES = Path(__file__).resolve().parents[2] / "config" / "rules"
POINTS_MODEL = RULES / "points-model.yaml"


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


def test_salesforce_names_each_missing_field_and_the_setting_that_writes_or_reads_it(
        tls_sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce")
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["rules"] = yaml.safe_load(POINTS_MODEL.read_text())       # HubSpot's field names, as shipped
    done = check(config, tmp_path)
    assert done.returncode == 1
    out = flat(done.stdout)
    assert ("salesforce Contact and Lead have no field 'threadline_score', which rules.scoring.fields.total "
            "writes: create it in salesforce (Number(18, 0)), or set rules.scoring.fields.total to a field it has") in out
    assert ("salesforce Contact and Lead have no field 'hs_email_optout', which rules.unsubscribe_field writes"
            in out)
    assert ("salesforce Contact have no field 'industry', which rules.scoring.rules[7].where reads (every "
            "contact pull would fail): create it in salesforce, or change rules.scoring.rules[7].where") in out


def flat(text: str) -> str:
    """Table output with its wrapping undone, for matching whole messages."""
    return " ".join(text.replace("│", " ").split())


def create_salesforce_example_fields(sandbox: SandboxServer, stages: tuple[str, ...]) -> None:
    """What the header of each Salesforce example asks an admin to create, on Contact and Lead."""
    for record in ("Contact", "Lead"):
        sandbox.salesforce.add_custom_field(record, "Closed_Won_Date__c", "date")
        for name in ("Threadline_Score__c", "Threadline_Score_Fit__c", "Threadline_Score_Intent__c"):
            sandbox.salesforce.add_custom_field(record, name, "double")
        sandbox.salesforce.add_custom_field(record, "Threadline_Score_Tier__c", "string")
        sandbox.salesforce.add_custom_field(record, "Lifecycle_Stage__c", "picklist", values=stages, restricted=True)


@pytest.mark.parametrize("example", ["points-model", "tier-routing"])
def test_each_salesforce_example_passes_check_once_the_fields_its_header_names_exist(
        tls_sandbox: SandboxServer, tmp_path: Path, example: str) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce")
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["rules"] = yaml.safe_load((RULES / f"{example}.salesforce.yaml").read_text())
    reps = config["rules"].get("assignment", {}).get("reps", [])
    for n, rep in enumerate(reps):            # the admin puts their own reps' User ids in
        rep["owner_id"] = tls_sandbox.salesforce.add_user(f"rep{n}@northwind.example")
    before = flat(check(config, tmp_path).stdout)
    assert "have no field 'Threadline_Score__c', which rules.scoring.fields.total writes" in before
    assert ("have no field 'Lifecycle_Stage__c', which rules.scoring.fields.stage writes: create it in salesforce "
            "(Picklist with " in before)

    create_salesforce_example_fields(tls_sandbox, ("Lead", "Marketing Qualified Lead"))
    done = check(config, tmp_path)
    assert done.returncode == 0, done.stdout
    out = flat(done.stdout)
    assert "field Lifecycle_Stage__c ok written by rules.scoring.fields.stage" in out
    assert "read by" in out                                          # LeadSource / Title conditions
    if example == "points-model":
        assert "written by rules.unsubscribe_field" in out


def test_salesforce_picklist_values_field_security_and_types_are_checked(tls_sandbox: SandboxServer,
                                                                        tmp_path: Path) -> None:
    seeded = seed_demo(tls_sandbox, crm="salesforce")
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["rules"] = yaml.safe_load((RULES / "points-model.salesforce.yaml").read_text())
    create_salesforce_example_fields(tls_sandbox, ("Lead", "MQL"))        # a picklist without one stage value
    tls_sandbox.salesforce.set_field_access("Lead", "Threadline_Score__c", editable=False)
    config["rules"]["sequences"] = [{"name": "nurture", "enroll_on": "contact.created",
                                     "exit_on_stage_change_to": ["Customer"], "exit_stage_field": "Lifecycle_Stage__c",
                                     "steps": [{"kind": "email", "subject": "Hi", "body": "Hello"}]}]
    config["server"] = {"public_url": "https://threadline.example", "unsubscribe_secret": "s" * 32}
    done = check(config, tmp_path)
    assert done.returncode == 1
    out = flat(done.stdout)
    assert ("salesforce Lead.Lifecycle_Stage__c offers no 'Marketing Qualified Lead' (it offers Lead, MQL), which "
            "rules.scoring.stages writes: add the values to the field in salesforce, or change "
            "rules.scoring.stages") in out
    assert ("salesforce Lead.Threadline_Score__c is read-only for Threadline's API user, but "
            "rules.scoring.fields.total writes it: grant the API user Edit access to Lead.Threadline_Score__c "
            "(Setup > Object Manager > Lead > Fields & Relationships > Set Field-Level Security)") in out
    assert ("salesforce Contact.Lifecycle_Stage__c offers no 'Customer' (it offers Lead, MQL), which "
            "rules.sequences[0].exit_stage_field waits for: it would never match") in out

    # A score field created as text cannot hold the score.
    config["rules"]["scoring"]["fields"]["fit"] = "Title"
    out = flat(check(config, tmp_path).stdout)
    assert ("salesforce Contact.Title is a string field; rules.scoring.fields.fit writes numbers: set "
            "rules.scoring.fields.fit to a numbers field") in out


def test_hubspot_checks_stage_options_read_only_properties_and_fields_the_rules_read(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(sandbox))
    config["rules"] = yaml.safe_load(POINTS_MODEL.read_text())
    config["rules"]["scoring"]["stages"][1]["value"] = "mql"             # not a lifecycle stage HubSpot has
    config["rules"]["scoring"]["fields"] = {"total": "hs_object_id"}      # a value HubSpot sets itself
    config["rules"]["scoring"]["rules"][7]["where"] = {"contact.industy": {"in": ["SaaS"]}}
    done = check(config, tmp_path)
    assert done.returncode == 1
    out = flat(done.stdout)
    assert "hubspot contact.lifecyclestage offers no 'mql' (it offers subscriber, lead, marketingqualifiedlead" in out
    assert ("hubspot contact.hs_object_id is read-only for Threadline's API user, but rules.scoring.fields.total "
            "writes it") in out
    assert ("hubspot contact have no field 'industy', which rules.scoring.rules[7].where reads (its conditions "
            "would never match)") in out


@pytest.mark.parametrize("example", ["points-model", "tier-routing"])
def test_each_hubspot_example_passes_check_with_the_portals_own_owner_ids(sandbox: SandboxServer, tmp_path: Path,
                                                                         example: str) -> None:
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seed_demo(sandbox))
    config["rules"] = yaml.safe_load((RULES / f"{example}.yaml").read_text())
    for n, rep in enumerate(config["rules"].get("assignment", {}).get("reps", [])):
        rep["owner_id"] = sandbox.hubspot.add_owner(f"rep{n}@northwind.example")
    done = check(config, tmp_path)
    assert done.returncode == 0, done.stdout


SEQUENCES = RULES.parent / "sequences"
ALL_STAGES = ("Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer")


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_the_example_sequences_with_the_points_model_pass_check_on_each_crm(
        tls_sandbox: SandboxServer, tmp_path: Path, crm: str) -> None:
    suffix = ".salesforce" if crm == "salesforce" else ""
    seeded = seed_demo(tls_sandbox, crm=crm)
    config = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm=crm)
    config["rules"] = yaml.safe_load((RULES / f"points-model{suffix}.yaml").read_text())
    config["rules"]["sequences"] = yaml.safe_load((SEQUENCES / f"examples{suffix}.yaml").read_text())["sequences"]
    config["rules"]["scoring"]["custom_events"].append("meeting.completed")    # as the example's comment says
    config["server"] = {"public_url": "https://threadline.example", "unsubscribe_secret": "s" * 32}
    if crm == "salesforce":
        create_salesforce_example_fields(tls_sandbox, ALL_STAGES)
    done = check(config, tmp_path)
    assert done.returncode == 0, done.stdout
    out = flat(done.stdout)
    assert "waits for" not in out
    closed = "Closed_Won_Date__c" if crm == "salesforce" else "recent_deal_close_date"
    assert f"field {closed} ok read by rules.sequences[1].deal_closed_field" in out, out
