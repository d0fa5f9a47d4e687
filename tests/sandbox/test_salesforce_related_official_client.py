"""simple-salesforce reads back what the adapter related a logged Task to (SOQL on Task.WhatId), over TLS
against the simulator, and gets Salesforce's own answers for the related-to rules: the child-relationship
subquery the adapter uses, and FIELD_INTEGRITY_EXCEPTION for a WhatId on a Lead's Task."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from threadline.adapters.records import EmailActivity
from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm
from threadline.sandbox.server import SandboxServer

KEY = "Threadline_Key__c"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def sandbox(tls_sandbox: SandboxServer) -> SandboxServer:
    """The session's https sandbox (reset by its fixture) with the Task key field."""
    tls_sandbox.salesforce.add_custom_field("Task", KEY, external_id=True, unique=True)
    return tls_sandbox


def trusted(sandbox: SandboxServer) -> ssl.SSLContext:
    assert sandbox.tls is not None
    return ssl.create_default_context(cafile=str(sandbox.tls.ca_cert))


@pytest.fixture
def sf(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Salesforce:
    app = sandbox.salesforce.default_app
    assertion = jwt.encode({"iss": app.consumer_key, "sub": app.username, "aud": "https://login.salesforce.com",
                            "exp": int(time.time()) + 180}, app.private_key_pem, algorithm="RS256")
    token = httpx.post(f"{sandbox.url}/services/oauth2/token", verify=trusted(sandbox),
                       data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    token.raise_for_status()
    assert sandbox.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.tls.ca_cert))   # requests lets it override `verify`
    session = requests.Session()
    session.verify = str(sandbox.tls.ca_cert)
    return Salesforce(instance_url=token.json()["instance_url"], session_id=token.json()["access_token"],
                      session=session, version="61.0")


@pytest.fixture
def crm(sandbox: SandboxServer) -> Iterator[SalesforceCrm]:
    app = sandbox.salesforce.default_app
    adapter = SalesforceCrm(httpx.Client(timeout=10, verify=trusted(sandbox)),
                            JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem, login_url=sandbox.url))
    yield adapter
    adapter.close()


def reply(key: str, who: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=who, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pilot", text="Let's go",
                         from_address="x@client.com", to_addresses=("rep@example.com",))


def test_simple_salesforce_reads_each_task_related_where_the_rules_say(
        sandbox: SandboxServer, sf: Salesforce, crm: SalesforceCrm) -> None:
    org = sandbox.salesforce
    ann, bob, carol = (org.add_contact(f"{n}@client.com") for n in ("ann", "bob", "carol"))
    lead = org.add_lead("lead@prospect.example")
    account = org.add_account("Client Inc", contacts=[ann, bob])
    pilot = org.add_opportunity("Pilot", account_id=account, contacts=[ann], stamp=START)
    org.add_opportunity("Won", account_id=account, stage="Closed Won", contacts=[ann], stamp=START + timedelta(1))
    crm.log_emails([reply(f"k-{who}", who) for who in (ann, bob, carol, lead)])
    rows = sf.query_all(f"SELECT Id, WhoId, WhatId, AccountId, {KEY} FROM Task WHERE TaskSubtype = 'Email'")["records"]
    assert {r["WhoId"]: r["WhatId"] for r in rows} == {ann: pilot, bob: account, carol: None, lead: None}
    assert {r["WhoId"]: r["AccountId"] for r in rows} == {ann: account, bob: account, carol: None, lead: None}
    on_pilot = sf.query(f"SELECT Id, WhoId FROM Task WHERE WhatId = '{pilot}'")
    assert [r["WhoId"] for r in on_pilot["records"]] == [ann]


def test_simple_salesforce_runs_the_contact_roles_subquery_with_parent_fields(
        sandbox: SandboxServer, sf: Salesforce) -> None:
    org = sandbox.salesforce
    ann, bob = org.add_contact("ann@client.com"), org.add_contact("bob@client.com")
    account = org.add_account("Client Inc", contacts=[ann])
    older = org.add_opportunity("Pilot", account_id=account, contacts=[ann], stamp=START)
    newer = org.add_opportunity("Expansion", account_id=account, contacts=[ann], stamp=START + timedelta(hours=1))
    answer = sf.query(
        "SELECT Id, AccountId, Account.Name, (SELECT OpportunityId, Opportunity.Name FROM OpportunityContactRoles "
        "WHERE Opportunity.IsClosed = false ORDER BY Opportunity.LastModifiedDate DESC) "
        f"FROM Contact WHERE Id IN ('{ann}', '{bob}') ORDER BY Email")
    first, second = answer["records"]
    assert first["Account"]["Name"] == "Client Inc" and second["Account"] is None
    assert [r["OpportunityId"] for r in first["OpportunityContactRoles"]["records"]] == [newer, older]
    assert first["OpportunityContactRoles"]["records"][0]["Opportunity"]["Name"] == "Expansion"
    assert second["OpportunityContactRoles"] is None
    opportunity = sf.Opportunity.get(older)
    assert opportunity["IsClosed"] is False and opportunity["AccountId"] == account


def test_salesforce_refuses_a_whatid_on_a_leads_task(sandbox: SandboxServer, sf: Salesforce) -> None:
    org = sandbox.salesforce
    lead, account = org.add_lead("lead@prospect.example"), org.add_account("Prospect Co")
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Task.create({"WhoId": lead, "WhatId": account, "Subject": "Email: hello"})
    assert refused.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    created = sf.Task.create({"WhoId": lead, "Subject": "Email: hello"})
    assert sf.Task.get(created["id"])["WhatId"] is None
