"""simple-salesforce, the standard Python client, runs unmodified against the simulator over TLS
for every operation the adapter uses; a passing test means the simulator's URLs, shapes and error
codes are the ones that client was written against."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceExpiredSession, SalesforceMalformedRequest
from simple_salesforce.exceptions import SalesforceResourceNotFound

from threadline.sandbox.server import SandboxServer

KEY = "Threadline_Key__c"


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = SandboxServer(tls_dir=Path(tmp_path_factory.mktemp("tls"))).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(tls_sandbox: SandboxServer) -> SandboxServer:
    tls_sandbox.reset()
    tls_sandbox.salesforce.add_custom_field("Task", KEY, external_id=True, unique=True)
    return tls_sandbox


def jwt_session(sandbox: SandboxServer) -> dict:
    app = sandbox.salesforce.default_app
    assertion = jwt.encode({"iss": app.consumer_key, "sub": app.username, "aud": "https://login.salesforce.com",
                            "exp": int(time.time()) + 180}, app.private_key_pem, algorithm="RS256")
    assert sandbox.tls is not None
    response = httpx.post(f"{sandbox.url}/services/oauth2/token",
                          verify=ssl.create_default_context(cafile=str(sandbox.tls.ca_cert)),
                          data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    response.raise_for_status()
    return response.json()


@pytest.fixture
def sf(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    token = jwt_session(sandbox)
    assert sandbox.tls is not None
    # requests lets REQUESTS_CA_BUNDLE override a session's `verify`, so trust the test CA there too
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.tls.ca_cert))
    session = requests.Session()
    session.verify = str(sandbox.tls.ca_cert)
    yield Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                     version="61.0")
    session.close()   # an open keep-alive connection would hold up the server's shutdown


def test_jwt_token_answer_has_salesforce_fields(sandbox: SandboxServer) -> None:
    token = jwt_session(sandbox)
    assert token["instance_url"] == sandbox.url and token["token_type"] == "Bearer"
    assert {"id", "issued_at", "signature", "access_token"} <= set(token)


def test_query_all_follows_next_records_url_and_query_more(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.salesforce.seed(900, leads_every=0)
    soql = "SELECT Id, Email, SystemModstamp FROM Contact WHERE SystemModstamp >= 2020-01-01T00:00:00Z " \
           "ORDER BY SystemModstamp, Id"
    everything = sf.query_all(soql)
    assert everything["totalSize"] == 900 and len(everything["records"]) == 900
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert not first["done"] and len(first["records"]) == 200
    more = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(more["records"]) == 200 and more["records"][0]["attributes"]["type"] == "Contact"
    assert sf.api_usage["api-usage"].used >= 3


def test_deleted_records_only_through_query_all_with_master_record_id(sandbox: SandboxServer, sf: Salesforce) -> None:
    keep = sf.Contact.create({"LastName": "Keep", "Email": "k@client.com"})["id"]
    lose = sf.Contact.create({"LastName": "Lose", "Email": "l@client.com"})["id"]
    sandbox.salesforce.merge(keep, lose)
    soql = "SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE IsDeleted = true"
    assert sf.query(soql)["totalSize"] == 0
    [gone] = sf.query_all(soql, include_deleted=True)["records"]
    assert gone["Id"] == lose and gone["MasterRecordId"] == keep
    now = datetime.now(UTC)
    deleted = sf.Contact.deleted(now - timedelta(days=1), now + timedelta(minutes=1))
    assert [d["id"] for d in deleted["deletedRecords"]] == [lose]
    updated = sf.Contact.updated(now - timedelta(days=1), now + timedelta(minutes=1))
    assert updated["ids"] == [keep]


def test_sobject_create_get_update_upsert_describe(sandbox: SandboxServer, sf: Salesforce) -> None:
    lead = sf.Lead.create({"LastName": "Lead", "Company": "Acme", "Email": "l@prospect.com"})
    assert lead["success"] and lead["id"].startswith("00Q")
    assert sf.Lead.update(lead["id"], {"Company": "Acme 2"}) == 204
    assert sf.Lead.get(lead["id"])["Company"] == "Acme 2"
    assert sf.Task.upsert(f"{KEY}/abc", {"WhoId": lead["id"], "Subject": "x"}) == 201
    assert sf.Task.upsert(f"{KEY}/abc", {"Subject": "y"}) == 200          # API 46.0+: 200 with a body
    assert sf.Task.get_by_custom_id(KEY, "abc")["Subject"] == "y"
    fields = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert fields[KEY]["externalId"] and fields[KEY]["custom"] and fields["WhoId"]["type"] == "reference"


def test_collections_and_composite_through_restful(sandbox: SandboxServer, sf: Salesforce) -> None:
    contact = sf.Contact.create({"LastName": "C"})["id"]
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Task"}, "WhoId": contact, KEY: "k1", "Status": "Completed"},
        {"attributes": {"type": "Task"}, "WhoId": contact, KEY: "k1"}]})
    assert created[0]["success"] and created[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Contact"}, "id": contact, "FirstName": "New"}]})
    assert updated == [{"id": contact, "success": True, "errors": []}]
    composite = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": "/services/data/v61.0/sobjects/Lead", "referenceId": "lead",
         "body": {"LastName": "L", "Company": "Acme"}},
        {"method": "GET", "url": "/services/data/v61.0/sobjects/Lead/@{lead.id}", "referenceId": "read"}]})
    answers = {a["referenceId"]: a for a in composite["compositeResponse"]}
    assert answers["lead"]["httpStatusCode"] == 201 and answers["read"]["body"]["Company"] == "Acme"


def test_limits_and_errors_map_to_the_clients_exceptions(sandbox: SandboxServer, sf: Salesforce) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == sandbox.settings.salesforce_daily_api_limit
    # `match` rather than `as`: a kept exception's traceback holds a live response (and its connection)
    with pytest.raises(SalesforceMalformedRequest, match="MALFORMED_QUERY"):
        sf.query("SELECT Id FROM Contact WHERE")
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.query("SELECT Id, Nope__c FROM Contact")
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get("003000000000000AAA")
    sandbox.salesforce.expire_sessions()
    with pytest.raises(SalesforceExpiredSession, match="INVALID_SESSION_ID"):
        sf.query("SELECT Id FROM Contact")
