"""The official HubSpot SDK reads back where the adapter put a logged email and a rule task: on the contact,
its primary company and its open deals (crm.associations.v4 basic and batch APIs), and reads the deal
pipelines the adapter takes the closed stages from. The SDK deserialises every answer into its models,
so a passing test also means the simulator's shapes match HubSpot's contract."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects.emails import AssociationSpec, PublicAssociationsForObject, PublicObjectId
from hubspot.crm.objects.emails import SimplePublicObjectInputForCreate as EmailCreate
from hubspot.crm.objects.emails.exceptions import ApiException as EmailsApiException

from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.records import EmailActivity, TaskRequest
from threadline.sandbox.server import SandboxServer


@pytest.fixture
def client(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)


@pytest.fixture
def crm(sandbox: SandboxServer) -> HubSpotCrm:
    adapter = HubSpotCrm(httpx.Client(base_url=sandbox.url, timeout=10), token=sandbox.settings.hubspot_token)
    adapter.ensure_schema()
    return adapter


def reply(key: str, contact_id: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=contact_id, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pilot", text="Let's go",
                         from_address="ann@client.com", to_addresses=("rep@example.com",))


def linked(client: HubSpot, object_type: str, object_id: str, to_type: str) -> dict[str, set[int]]:
    page = client.crm.associations.v4.basic_api.get_page(object_type, object_id, to_type)
    return {str(r.to_object_id): {t.type_id for t in r.association_types} for r in page.results}


def test_the_sdk_reads_a_logged_email_on_the_contact_primary_company_and_open_deal(
        sandbox: SandboxServer, client: HubSpot, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    company = hs.add_company("Client Inc", domain="client.com", contacts=[ann])
    pilot = hs.add_deal("Pilot", stage="presentationscheduled", contacts=[ann], company=company)
    won = hs.add_deal("Last year", stage="closedwon", contacts=[ann])
    [logged] = crm.log_emails([reply("k1", ann)])
    assert linked(client, "emails", logged.remote_id, "contacts") == {ann: {198}}
    assert linked(client, "emails", logged.remote_id, "companies") == {company: {186}}
    assert linked(client, "emails", logged.remote_id, "deals") == {pilot: {210}}
    # and from the other side, as a rep's company and deal timelines read them
    assert linked(client, "companies", company, "emails") == {logged.remote_id: {185}}
    assert linked(client, "deals", pilot, "emails") == {logged.remote_id: {209}}
    assert linked(client, "deals", won, "emails") == {}
    # the contact's primary company carries the Primary label next to the unlabeled type
    [company_link] = client.crm.associations.v4.basic_api.get_page("contacts", ann, "companies").results
    assert {(t.type_id, t.label) for t in company_link.association_types} == {(1, "Primary"), (279, None)}


def test_the_sdk_batch_reads_rule_tasks_on_companies_and_deals(
        sandbox: SandboxServer, client: HubSpot, crm: HubSpotCrm) -> None:
    hs = sandbox.hubspot
    ann, bob = hs.add_contact("ann@client.com"), hs.add_contact("bob@gmail.com")
    company = hs.add_company("Client Inc", contacts=[ann])
    deal = hs.add_deal("Pilot", contacts=[ann])
    due = datetime(2024, 5, 3, 9, tzinfo=UTC)
    tasks = crm.create_tasks([TaskRequest(key=f"t-{who}", contact_id=who, owner_id=None, subject="Follow up",
                                          body="Reply came in", due_at=due) for who in (ann, bob)])
    ids = {t.key: t.remote_id for t in tasks}
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids.values()])
    companies = client.crm.associations.v4.batch_api.get_page("tasks", "companies", request)
    deals = client.crm.associations.v4.batch_api.get_page("tasks", "deals", request)
    by_task = {r._from.id: {(str(t.to_object_id), t.association_types[0].type_id) for t in r.to}
               for r in companies.results}
    assert by_task == {ids[f"t-{ann}"]: {(company, 192)}}          # Bob has no company: listed as an error
    assert {r._from.id: [str(t.to_object_id) for t in r.to] for r in deals.results} == {ids[f"t-{ann}"]: [deal]}
    assert companies.num_errors == 1


def test_the_sdk_reads_the_deal_pipelines_with_their_closed_stages(client: HubSpot) -> None:
    [pipeline] = client.crm.pipelines.pipelines_api.get_all("deals").results
    closed = {s.id for s in pipeline.stages if s.metadata["isClosed"] == "true"}
    assert pipeline.id == "default" and closed == {"closedwon", "closedlost"}
    assert {s.id: s.metadata["probability"] for s in pipeline.stages}["closedwon"] == "1.0"


def test_an_unknown_association_type_id_is_refused_on_create(sandbox: SandboxServer, client: HubSpot) -> None:
    ann = sandbox.hubspot.add_contact("ann@client.com")
    company = sandbox.hubspot.add_company("Client Inc", contacts=[ann])
    body = EmailCreate(properties={"hs_timestamp": "1714564800000", "hs_email_direction": "INCOMING_EMAIL"},
                       associations=[PublicAssociationsForObject(
                           to=PublicObjectId(id=company),
                           types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=99999)])])
    with pytest.raises(EmailsApiException) as refused:
        client.crm.objects.emails.basic_api.create(body)
    assert refused.value.status == 400 and "VALIDATION_ERROR" in refused.value.body
    assert sandbox.hubspot.count("emails") == 0
    body.associations[0].types[0].association_type_id = 186         # email -> company, HubSpot's default type
    created = client.crm.objects.emails.basic_api.create(body)
    assert linked(client, "emails", created.id, "companies") == {company: {186}}
