"""A Contact's Task is related (WhatId) to its newest open Opportunity, else its Account; a Lead's keeps only
WhoId. Against the Salesforce simulator through real HTTP; one SOQL query per write batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from threadline.adapters.records import EmailActivity, TaskRequest
from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm, SalesforceNames
from threadline.sandbox.server import SandboxServer

NAMES = SalesforceNames()
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


@pytest.fixture
def org(sandbox: SandboxServer) -> SandboxServer:
    sandbox.salesforce.add_custom_field("Task", NAMES.email_key, external_id=True, unique=True)
    return sandbox


def make_crm(sandbox: SandboxServer, http: httpx.Client, **kw: object) -> SalesforceCrm:
    app = sandbox.salesforce.default_app
    grant = JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem, login_url=sandbox.url)
    return SalesforceCrm(http, grant, **kw)  # type: ignore[arg-type]


@pytest.fixture
def crm(org: SandboxServer, http: httpx.Client) -> SalesforceCrm:
    return make_crm(org, http)


def activity(key: str, who: str) -> EmailActivity:
    return EmailActivity(key=key, contact_id=who, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pricing", text="Sounds good",
                         from_address="lead@client.com", to_addresses=("rep@example.com",))


def what_of(org: SandboxServer, task_id: str) -> str | None:
    return org.salesforce.record("Task", task_id)["WhatId"]


def queries(org: SandboxServer) -> int:
    return org.salesforce.stats_for("GET query")


def test_a_contact_with_a_role_on_an_open_opportunity_gets_the_newest_open_one(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    sf = org.salesforce
    ann = sf.add_contact("ann@client.com")
    account = sf.add_account("Client Inc", contacts=[ann])
    older = sf.add_opportunity("Pilot", account_id=account, contacts=[ann], stamp=START)
    newer = sf.add_opportunity("Expansion", account_id=account, contacts=[ann], stamp=START + timedelta(hours=1))
    sf.add_opportunity("Last year", account_id=account, stage="Closed Won", contacts=[ann],
                       stamp=START + timedelta(hours=2))                # newest, but closed
    sf.add_opportunity("Not hers", account_id=account, stamp=START + timedelta(hours=3))   # no role for Ann
    [logged] = crm.log_emails([activity("k1", ann)])
    assert what_of(org, logged.remote_id) == newer
    task = sf.record("Task", logged.remote_id)
    assert task["WhoId"] == ann and task["AccountId"] == account       # Salesforce derives the account
    sf.move_opportunity(newer, "Closed Lost")                          # closed between the pull and the write
    [again] = crm.log_emails([activity("k2", ann)])
    assert what_of(org, again.remote_id) == older


def test_a_contact_with_only_an_account_gets_the_account_and_one_with_neither_gets_none(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    sf = org.salesforce
    bob, carol = sf.add_contact("bob@acme.com"), sf.add_contact("carol@gmail.com")
    acme = sf.add_account("Acme", contacts=[bob])
    bob_task, carol_task = crm.log_emails([activity("b", bob), activity("c", carol)])
    assert what_of(org, bob_task.remote_id) == acme
    assert what_of(org, carol_task.remote_id) is None


def test_a_lead_keeps_only_its_whoid_and_salesforce_refuses_a_whatid_on_it(
        org: SandboxServer, crm: SalesforceCrm, http: httpx.Client) -> None:
    sf = org.salesforce
    lead = sf.add_lead("lead@prospect.example")
    account = sf.add_account("Prospect Co")
    [logged] = crm.log_emails([activity("lead", lead)])
    task = sf.record("Task", logged.remote_id)
    assert task["WhoId"] == lead and task["WhatId"] is None
    # What the adapter avoids: the org answers a lead's Task with a WhatId with FIELD_INTEGRITY_EXCEPTION.
    token = crm.api.sessions.current()
    answer = http.post(f"{token.instance_url}/services/data/v61.0/composite/sobjects",
                       headers={"Authorization": f"Bearer {token.access_token}"},
                       json={"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "WhoId": lead,
                                                              "WhatId": account, "Subject": "x"}]})
    [result] = answer.json()
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_one_soql_query_per_write_batch_of_contacts_and_leads(org: SandboxServer, crm: SalesforceCrm) -> None:
    sf = org.salesforce
    contacts = [sf.add_contact(f"c{n}@client.com") for n in range(250)]
    leads = [sf.add_lead(f"l{n}@prospect.example") for n in range(20)]
    account = sf.add_account("Client Inc", contacts=contacts)
    deal = sf.add_opportunity("Big deal", account_id=account, contacts=contacts[:5])
    before = queries(org)
    logged = crm.log_emails([activity(f"k{n}", who) for n, who in enumerate(contacts + leads)])
    assert len(logged) == 270
    assert queries(org) - before == 2                         # two Collections calls (200 + 70), one query each
    whats = {what_of(org, item.remote_id) for item in logged}
    assert whats == {deal, account, None}
    assert sum(what_of(org, item.remote_id) == deal for item in logged) == 5


@pytest.mark.parametrize(("associate", "expected"), [([], None), (["company"], "account"),
                                                     (["open_deals"], "opportunity")])
def test_the_setting_chooses_what_a_task_is_related_to(org: SandboxServer, http: httpx.Client,
                                                       associate: list[str], expected: str | None) -> None:
    sf = org.salesforce
    crm = make_crm(org, http, associate=associate)
    ann, bob = sf.add_contact("ann@client.com"), sf.add_contact("bob@client.com")
    account = sf.add_account("Client Inc", contacts=[ann, bob])
    deal = sf.add_opportunity("Pilot", account_id=account, contacts=[ann])
    ann_task, bob_task = crm.log_emails([activity("a", ann), activity("b", bob)])
    wanted = {None: None, "account": account, "opportunity": deal}[expected]
    assert what_of(org, ann_task.remote_id) == wanted
    assert what_of(org, bob_task.remote_id) == (account if expected == "account" else None)
    if not associate:
        assert queries(org) == 0


def test_rule_tasks_are_related_the_same_way(org: SandboxServer, crm: SalesforceCrm) -> None:
    sf = org.salesforce
    ann, lead = sf.add_contact("ann@client.com"), sf.add_lead("lead@prospect.example")
    deal = sf.add_opportunity("Pilot", account_id=sf.add_account("Client Inc", contacts=[ann]), contacts=[ann])
    due = datetime(2024, 5, 2, 9, tzinfo=UTC)
    made = crm.create_tasks([TaskRequest(key="t1", contact_id=ann, owner_id=None, subject="Call", body="b", due_at=due),
                             TaskRequest(key="t2", contact_id=lead, owner_id=None, subject="Call", body="b",
                                         due_at=due)])
    by_key = {m.key: m.remote_id for m in made}
    assert what_of(org, by_key["t1"]) == deal and what_of(org, by_key["t2"]) is None
