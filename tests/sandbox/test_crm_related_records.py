"""The simulators' companies, deals and pipelines (HubSpot) and Accounts, Opportunities and contact roles
(Salesforce) refuse what the real APIs refuse, with their error codes, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm
from threadline.sandbox.server import SandboxServer


@pytest.fixture
def hubspot(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10,
                      headers={"Authorization": f"Bearer {sandbox.settings.hubspot_token}"}) as client:
        yield client


@pytest.fixture
def salesforce(sandbox: SandboxServer) -> Iterator[tuple[httpx.Client, str]]:
    """A client with a session, and the versioned REST root of the org."""
    app = sandbox.salesforce.default_app
    crm = SalesforceCrm(httpx.Client(timeout=10), JwtBearerGrant(app.consumer_key, app.username,
                                                                 app.private_key_pem, login_url=sandbox.url))
    session = crm.api.sessions.current()
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {session.access_token}"}) as client:
        yield client, f"{session.instance_url}/services/data/v61.0"
    crm.close()


def test_a_deal_stage_must_belong_to_its_pipeline(hubspot: httpx.Client) -> None:
    bad = hubspot.post("/crm/v3/objects/deals", json={"properties": {"dealname": "Pilot", "dealstage": "r-done"}})
    assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"
    good = hubspot.post("/crm/v3/objects/deals", json={"properties": {"dealname": "Pilot", "dealstage": "closedwon"}})
    assert good.status_code == 201 and good.json()["properties"]["dealstage"] == "closedwon"
    assert hubspot.get("/crm/v3/pipelines/tickets-unknown").status_code == 400
    assert hubspot.get("/crm/v3/pipelines/deals/nope").status_code == 404


def test_association_batch_reads_take_at_most_1000_inputs(hubspot: httpx.Client) -> None:
    answer = hubspot.post("/crm/v4/associations/contacts/companies/batch/read",
                          json={"inputs": [{"id": str(n)} for n in range(1001)]})
    assert answer.status_code == 400


def test_only_one_primary_company_per_contact(sandbox: SandboxServer) -> None:
    hs = sandbox.hubspot
    ann = hs.add_contact("ann@client.com")
    first = hs.add_company("First", contacts=[ann])
    second = hs.add_company("Second", contacts=[ann])            # the new primary
    assert hs.associated("contacts", ann, "companies") == {first: [279], second: [1, 279]}
    assert hs.associated("companies", first, "contacts") == {ann: [280]}


def query(salesforce: tuple[httpx.Client, str], soql: str) -> httpx.Response:
    client, root = salesforce
    return client.get(f"{root}/query", params={"q": soql})


def error_code(response: httpx.Response) -> Any:
    return response.json()[0]["errorCode"]


def test_soql_paths_through_unknown_or_polymorphic_relationships_are_refused(
        sandbox: SandboxServer, salesforce: tuple[httpx.Client, str]) -> None:
    assert error_code(query(salesforce, "SELECT Id, Who.Name FROM Task")) == "INVALID_FIELD"
    assert error_code(query(salesforce, "SELECT Id, (SELECT Id FROM Nothings) FROM Contact")) == "INVALID_TYPE"
    ok = query(salesforce, "SELECT Id, Account.Name FROM Contact")
    assert ok.status_code == 200


def test_opportunities_compute_is_closed_and_refuse_writing_it(sandbox: SandboxServer,
                                                               salesforce: tuple[httpx.Client, str]) -> None:
    client, root = salesforce
    missing = client.post(f"{root}/sobjects/Opportunity", json={"Name": "Pilot", "StageName": "Prospecting"})
    assert missing.status_code == 400 and error_code(missing) == "REQUIRED_FIELD_MISSING"
    forced = client.post(f"{root}/sobjects/Opportunity", json={"Name": "Pilot", "StageName": "Prospecting",
                                                               "CloseDate": "2024-06-30", "IsClosed": True})
    assert forced.status_code == 400 and error_code(forced) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    made = client.post(f"{root}/sobjects/Opportunity", json={"Name": "Pilot", "StageName": "Closed Lost",
                                                             "CloseDate": "2024-06-30"})
    assert made.status_code == 201
    record = sandbox.salesforce.record("Opportunity", made.json()["id"])
    assert record["IsClosed"] is True and record["IsWon"] is False
