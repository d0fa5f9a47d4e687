"""The Salesforce simulator's own rules: paging, limits, all-or-none, OAuth errors and fault shapes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

API = "/services/data/v61.0"


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.settings.salesforce_access_token}"}
    with httpx.Client(base_url=sandbox.url + API, headers=headers, timeout=10) as client:
        yield client


def test_query_pages_honour_batch_size_within_200_to_2000(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.salesforce.seed(2500, leads_every=0)
    q = {"q": "SELECT Id FROM Contact ORDER BY Id"}
    default = api.get("/query", params=q).json()
    assert len(default["records"]) == 2000 and default["totalSize"] == 2500
    tiny = api.get("/query", params=q, headers={"Sforce-Query-Options": "batchSize=5"}).json()
    assert len(tiny["records"]) == 200                       # below the minimum: 200
    rest = api.get(tiny["nextRecordsUrl"].removeprefix(API)).json()
    assert rest["records"][0]["Id"] > tiny["records"][-1]["Id"]


def test_every_response_carries_limit_info_and_the_spent_allocation_is_refused(
        sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.salesforce.set_daily_limit(2)
    assert api.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=1/2"
    assert api.get("/limits").json()["DailyApiRequests"] == {"Max": 2, "Remaining": 0}
    refused = api.get("/limits")
    assert refused.status_code == 403
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_all_or_none_rolls_back_every_record(sandbox: SandboxServer, api: httpx.Client) -> None:
    contact = sandbox.salesforce.add_contact("a@client.com")
    body = {"allOrNone": True, "records": [{"attributes": {"type": "Task"}, "WhoId": contact},
                                           {"attributes": {"type": "Task"}, "WhoId": "003000000000000AAA"}]}
    results = api.post("/composite/sobjects", json=body).json()
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sandbox.salesforce.tasks_for(contact) == []


def test_unknown_fields_and_objects_are_refused_in_salesforce_words(
        sandbox: SandboxServer, api: httpx.Client) -> None:
    unknown = api.post("/composite/sobjects", json={"records": [{"attributes": {"type": "Task"}, "Nope__c": "x"}]})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    assert api.get("/query", params={"q": "SELECT Id FROM Widget"}).json()[0]["errorCode"] == "INVALID_TYPE"
    assert api.get("/query", params={"q": "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'"}
                   ).json()[0]["errorCode"] == "INVALID_FIELD"
    assert httpx.get(f"{sandbox.url}/services/data/v49.0/limits", headers=api.headers).status_code == 404


def test_oauth_errors_have_the_oauth_shape(sandbox: SandboxServer) -> None:
    token_url = f"{sandbox.url}/services/oauth2/token"
    bad = httpx.post(token_url, data={"grant_type": "refresh_token", "client_id": "nobody", "refresh_token": "x"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_client_id",
                                                     "error_description": "client identifier invalid"}
    garbage = httpx.post(token_url, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                          "assertion": "not-a-jwt"})
    assert garbage.json()["error"] == "invalid_grant"


def test_generic_faults_use_salesforce_shapes(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.faults.add(Fault(provider="salesforce", kind="throttle"))
    sandbox.faults.add(Fault(provider="salesforce", kind="expired_token"))
    assert api.get("/limits").json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    expired = api.get("/limits")
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert api.get("/limits").status_code == 200
