"""The rule layer's HubSpot operations (tasks, field writes, owners, meetings, rule properties),
against the HubSpot simulator through real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from threadline.adapters.errors import NotFound, TransientError
from threadline.adapters.hubspot import HubSpotCrm, LifecycleStageRefused
from threadline.adapters.records import FieldWrite, TaskRequest
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

DUE = datetime(2030, 5, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def crm(sandbox: SandboxServer, http: httpx.Client) -> HubSpotCrm:
    sandbox.hubspot.settings.hubspot_search_per_second = 100
    adapter = HubSpotCrm(http, token=sandbox.settings.hubspot_token, searches_per_second=80)
    assert all(r.ok for r in adapter.ensure_schema())
    return adapter


def task(key: str, contact_id: str, owner_id: str | None = None, priority: str = "HIGH") -> TaskRequest:
    return TaskRequest(key=key, contact_id=contact_id, owner_id=owner_id, subject="Follow up: demo request",
                       body="Score 72 (MQL). Latest reply: 'Can we talk Tuesday?'", due_at=DUE, priority=priority)


def test_ensure_schema_creates_the_task_key_property(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    assert "threadline_key" in sandbox.hubspot.crm.schema.properties["tasks"]
    assert {r.detail for r in crm.ensure_schema()} == {"present"}


def test_created_tasks_are_linked_owned_due_and_found_open_then_completed(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    owner = sandbox.hubspot.add_owner("rep@northwind.example")
    contact = sandbox.hubspot.add_contact("ann@client.com")
    created = crm.create_tasks([task("t-1", contact, owner)])
    assert [c.key for c in created] == ["t-1"]
    [linked] = sandbox.hubspot.tasks_for(contact)
    assert linked["id"] == created[0].remote_id
    assert linked["properties"]["hs_task_priority"] == "HIGH"
    assert linked["properties"]["hubspot_owner_id"] == owner
    state = crm.find_tasks(["t-1", "t-unknown"])
    assert list(state) == ["t-1"]
    assert (state["t-1"].status, state["t-1"].owner_id, state["t-1"].due_at) == ("open", owner, DUE)
    sandbox.hubspot.complete_task(created[0].remote_id)
    assert crm.find_tasks(["t-1"])["t-1"].status == "completed"


def test_a_task_create_whose_answer_was_lost_is_found_by_find_tasks(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    contact = sandbox.hubspot.add_contact("ann@client.com")
    sandbox.faults.add(Fault(provider="hubspot", kind="drop_after", path_prefix="/crm/v3/objects/tasks/batch"))
    with pytest.raises(TransientError):  # ambiguous: surfaced, not retried blindly
        crm.create_tasks([task("t-lost", contact)])
    assert list(crm.find_tasks(["t-lost"])) == ["t-lost"]
    assert len(sandbox.hubspot.tasks_for(contact)) == 1


def test_write_fields_sets_score_tier_owner_and_stage_absolutely(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    owner = sandbox.hubspot.add_owner("rep@northwind.example")
    contact = sandbox.hubspot.add_contact("ann@client.com", lifecyclestage="lead")
    crm.rule_fields_schema([("threadline_score", "number"), ("threadline_tier", "enumeration", "educational",
                                                                "solution", "mql")])
    write = FieldWrite(contact_id=contact, fields={"threadline_score": "72", "threadline_tier": "mql",
                                                   "hubspot_owner_id": owner,
                                                   "lifecyclestage": "marketingqualifiedlead"})
    crm.write_fields([write])
    crm.write_fields([write])  # the same absolute write again is harmless
    props = sandbox.hubspot.object("contacts", contact).properties
    assert (props["threadline_score"], props["threadline_tier"]) == ("72", "mql")
    assert (props["hubspot_owner_id"], props["lifecyclestage"]) == (owner, "marketingqualifiedlead")


def test_a_backward_lifecycle_stage_is_refused_clearly_and_the_other_writes_still_happen(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    ahead = sandbox.hubspot.add_contact("ann@client.com", lifecyclestage="opportunity")
    other = sandbox.hubspot.add_contact("bob@client.com", lifecyclestage="lead")
    with pytest.raises(LifecycleStageRefused) as refused:
        crm.write_fields([FieldWrite(contact_id=ahead, fields={"lifecyclestage": "lead"}),
                          FieldWrite(contact_id=other, fields={"lifecyclestage": "salesqualifiedlead"})])
    assert refused.value.contact_ids == [ahead]
    assert "only moves lifecycle stages forward" in str(refused.value)
    assert sandbox.hubspot.object("contacts", ahead).properties["lifecyclestage"] == "opportunity"
    assert sandbox.hubspot.object("contacts", other).properties["lifecyclestage"] == "salesqualifiedlead"
    crm.write_fields([FieldWrite(contact_id=ahead, fields={"lifecyclestage": ""})])  # HubSpot's way back:
    crm.write_fields([FieldWrite(contact_id=ahead, fields={"lifecyclestage": "lead"})])  # clear, then set
    assert sandbox.hubspot.object("contacts", ahead).properties["lifecyclestage"] == "lead"


def test_write_fields_names_contacts_that_no_longer_exist(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    contact = sandbox.hubspot.add_contact("ann@client.com")
    with pytest.raises(NotFound, match="999999"):
        crm.write_fields([FieldWrite(contact_id="999999", fields={"firstname": "X"}),
                          FieldWrite(contact_id=contact, fields={"firstname": "Ann"})])
    assert sandbox.hubspot.object("contacts", contact).properties["firstname"] == "Ann"


def test_list_owners_pages_through_active_and_deactivated_owners(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    active = [sandbox.hubspot.add_owner(f"rep{i}@northwind.example", first_name=f"Rep{i}") for i in range(150)]
    gone = sandbox.hubspot.add_owner("left@northwind.example", archived=True)
    owners = {o.id: o for o in crm.list_owners()}
    assert set(owners) == {*active, gone}
    assert owners[active[0]].name == "Rep0 Owner" and owners[active[0]].email == "rep0@northwind.example"
    assert owners[active[0]].active and not owners[gone].active


def test_pull_meetings_backfills_then_reads_only_new_meetings(sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    ann, bob = sandbox.hubspot.add_contact("ann@client.com"), sandbox.hubspot.add_contact("bob@client.com")
    start = datetime(2030, 5, 3, 15, tzinfo=UTC)
    first = sandbox.hubspot.add_meeting(ann, start)
    pages = list(crm.pull_meetings(None))
    meetings = [m for batch, _ in pages for m in batch]
    assert [(m.id, m.contact_ids, m.starts_at) for m in meetings] == [(first, (ann,), start)]
    cursor = pages[-1][1]
    second = sandbox.hubspot.add_meeting(bob, start + timedelta(days=1))
    later = [m for batch, _ in crm.pull_meetings(cursor) for m in batch]
    assert second in {m.id for m in later} and {m.id for m in later} <= {first, second}
    assert next(m for m in later if m.id == second).contact_ids == (bob,)


def test_rule_fields_schema_creates_custom_properties_and_leaves_standard_ones(
        sandbox: SandboxServer, crm: HubSpotCrm) -> None:
    fields = [("threadline_score", "number"), ("threadline_tier", "enumeration"),
              ("lifecyclestage", "enumeration"), ("hubspot_owner_id", "enumeration")]
    first = {r.item: r for r in crm.rule_fields_schema(fields)}
    assert first["property contacts.threadline_score"].detail == "created"
    assert first["property contacts.threadline_tier"].detail == "created as text (no options given)"
    assert first["property contacts.lifecyclestage"].detail == "present"
    assert all(r.ok for r in first.values())
    schema = sandbox.hubspot.crm.schema.properties["contacts"]
    assert schema["threadline_score"]["type"] == "number" and schema["threadline_score"]["groupName"] == "threadline"
    assert {r.detail for r in crm.rule_fields_schema(fields)} == {"present"}
