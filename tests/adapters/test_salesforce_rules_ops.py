"""The rule layer's Salesforce operations (follow-up Tasks, field writes, owners, Events, rule fields),
against the Salesforce simulator through real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from threadline.adapters.errors import NotFound, TransientError
from threadline.adapters.records import FieldWrite, TaskRequest
from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm, SalesforceNames
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

NAMES = SalesforceNames()
DUE = datetime(2030, 5, 2, 9, 30, tzinfo=UTC)
RULE_FIELDS = [("Threadline_Score__c", "number"), ("Threadline_Tier__c", "enumeration"), ("OwnerId", "string")]


@pytest.fixture
def org(sandbox: SandboxServer) -> SandboxServer:
    """The org with Threadline's Task key field, as an admin creates it."""
    sandbox.salesforce.add_custom_field("Task", NAMES.email_key, external_id=True, unique=True)
    return sandbox


def add_rule_fields(org: SandboxServer) -> None:
    for obj in ("Contact", "Lead"):
        org.salesforce.add_custom_field(obj, "Threadline_Score__c", "double")
        org.salesforce.add_custom_field(obj, "Threadline_Tier__c", "picklist")


@pytest.fixture
def crm(org: SandboxServer, http: httpx.Client) -> SalesforceCrm:
    app = org.salesforce.default_app
    return SalesforceCrm(http, JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem,
                                              login_url=org.url), batch_size=200)


def task(key: str, who: str, owner_id: str | None = None) -> TaskRequest:
    return TaskRequest(key=key, contact_id=who, owner_id=owner_id, subject="Follow up: demo request",
                       body="Score 72 (MQL). Latest reply: 'Can we talk Tuesday?'", due_at=DUE, priority="HIGH")


def test_created_tasks_are_open_owned_due_and_found_then_seen_completed(org: SandboxServer, crm: SalesforceCrm) -> None:
    rep = org.salesforce.add_user("rep@northwind.example")
    contact = org.salesforce.add_contact("ann@client.com")
    created = crm.create_tasks([task("t-1", contact, rep)])
    [record] = org.salesforce.tasks_for(contact)
    assert record["Id"] == created[0].remote_id and record["OwnerId"] == rep
    assert (record["Status"], record["Priority"], record["ActivityDate"]) == ("Not Started", "High", "2030-05-02")
    state = crm.find_tasks(["t-1", "t-unknown"])
    assert list(state) == ["t-1"]
    assert (state["t-1"].status, state["t-1"].owner_id, state["t-1"].due_at) == ("open", rep, DUE)
    org.salesforce.complete_task(created[0].remote_id)
    assert crm.find_tasks(["t-1"])["t-1"].status == "completed"


def test_a_task_create_whose_answer_was_lost_is_found_by_find_tasks_not_repeated(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    lead = org.salesforce.add_lead("lee@prospect.example")
    org.faults.add(Fault(provider="salesforce", kind="drop_after", path_prefix="/services/data/v61.0/composite"))
    with pytest.raises(TransientError):
        crm.create_tasks([task("t-lost", lead)])
    found = crm.find_tasks(["t-lost"])
    assert list(found) == ["t-lost"] and len(org.salesforce.tasks_for(lead)) == 1
    # even a blind retry cannot double it: the unique key answers DUPLICATE_VALUE, mapped to the original
    assert crm.create_tasks([task("t-lost", lead)])[0].remote_id == found["t-lost"].remote_id
    assert len(org.salesforce.tasks_for(lead)) == 1


def test_write_fields_sets_score_tier_owner_and_lead_status_with_salesforce_types(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    add_rule_fields(org)
    rep = org.salesforce.add_user("rep@northwind.example")
    contact, lead = org.salesforce.add_contact("ann@client.com"), org.salesforce.add_lead("lee@prospect.example")
    writes = [FieldWrite(contact_id=contact, fields={"Threadline_Score__c": "72", "Threadline_Tier__c": "mql",
                                                     "OwnerId": rep}),
              FieldWrite(contact_id=lead, fields={"Threadline_Score__c": "30", "Status": "Working - Contacted"})]
    crm.write_fields(writes)
    crm.write_fields(writes)  # absolute values: the same write again changes nothing
    ann, lee = org.salesforce.record("Contact", contact), org.salesforce.record("Lead", lead)
    assert (ann["Threadline_Score__c"], ann["Threadline_Tier__c"], ann["OwnerId"]) == (72.0, "mql", rep)
    assert (lee["Threadline_Score__c"], lee["Status"]) == (30.0, "Working - Contacted")


def test_write_fields_names_records_that_no_longer_exist(org: SandboxServer, crm: SalesforceCrm) -> None:
    add_rule_fields(org)
    gone, kept = org.salesforce.add_contact("gone@client.com"), org.salesforce.add_contact("kept@client.com")
    org.salesforce.delete("Contact", gone)
    with pytest.raises(NotFound, match=gone):
        crm.write_fields([FieldWrite(contact_id=gone, fields={"Threadline_Score__c": "5"}),
                          FieldWrite(contact_id=kept, fields={"Threadline_Score__c": "6"})])
    assert org.salesforce.record("Contact", kept)["Threadline_Score__c"] == 6.0


def test_list_owners_reads_users_with_their_active_flag(org: SandboxServer, crm: SalesforceCrm) -> None:
    rep = org.salesforce.add_user("rep@northwind.example", first_name="Alex", last_name="Rep")
    gone = org.salesforce.add_user("left@northwind.example", active=False)
    owners = {o.id: o for o in crm.list_owners()}
    assert {rep, gone, org.salesforce.api_user_id} == set(owners)
    assert (owners[rep].name, owners[rep].email, owners[rep].active) == ("Alex Rep", "rep@northwind.example", True)
    assert not owners[gone].active


def test_pull_meetings_backfills_events_then_reads_only_new_ones(org: SandboxServer, crm: SalesforceCrm) -> None:
    contact, lead = org.salesforce.add_contact("ann@client.com"), org.salesforce.add_lead("lee@prospect.example")
    start = datetime(2030, 5, 3, 15, tzinfo=UTC)
    first = org.salesforce.add_event(contact, start)
    pages = list(crm.pull_meetings(None))
    assert [(m.id, m.contact_ids, m.starts_at) for batch, _ in pages for m in batch] == [(first, (contact,), start)]
    second = org.salesforce.add_event(lead, start + timedelta(days=1))
    later = list(crm.pull_meetings(pages[-1][1]))
    assert [(m.id, m.contact_ids) for batch, _ in later for m in batch] == [(second, (lead,))]
    assert list(crm.pull_meetings(later[-1][1])) == []  # an idle pass finds nothing


def test_rule_fields_schema_says_what_the_admin_must_create_then_passes(org: SandboxServer, crm: SalesforceCrm) -> None:
    before = {r.item: r for r in crm.rule_fields_schema(RULE_FIELDS)}
    missing = before["field Contact.Threadline_Score__c"]
    assert not missing.ok and "Object Manager > Contact" in missing.detail and "Number(18, 0)" in missing.detail
    assert "Picklist" in before["field Lead.Threadline_Tier__c"].detail
    assert before["field Contact.OwnerId"].ok
    add_rule_fields(org)
    assert all(r.ok for r in crm.rule_fields_schema(RULE_FIELDS))
