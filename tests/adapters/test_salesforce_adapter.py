"""The Salesforce adapter against the Salesforce simulator, through real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from threadline.adapters.errors import AuthExpired, NotFound
from threadline.adapters.records import ContactPage, ContactUpdate, EmailActivity
from threadline.adapters.salesforce import (
    ApiLimitExceeded,
    JwtBearerGrant,
    MissingField,
    RefreshTokenGrant,
    SalesforceCrm,
    SalesforceNames,
)
from threadline.adapters.salesforce.contacts import parse_sf_time
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
NAMES = SalesforceNames()


def jwt_grant(sandbox: SandboxServer) -> JwtBearerGrant:
    app = sandbox.salesforce.default_app
    return JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem, login_url=sandbox.url)


@pytest.fixture
def org(sandbox: SandboxServer) -> SandboxServer:
    """The org with the custom fields an admin creates for Threadline."""
    sf = sandbox.salesforce
    sf.add_custom_field("Task", NAMES.email_key, external_id=True, unique=True)
    for obj in ("Contact", "Lead"):
        sf.add_custom_field(obj, NAMES.last_reply_at, "datetime")
        sf.add_custom_field(obj, NAMES.last_reply_snippet, "textarea")
        sf.add_custom_field(obj, NAMES.reply_count, "double")
    return sandbox


@pytest.fixture
def crm(org: SandboxServer, http: httpx.Client) -> SalesforceCrm:
    return SalesforceCrm(http, jwt_grant(org), batch_size=200)


def pull_all(crm: SalesforceCrm, cursor: dict | None = None) -> list[ContactPage]:
    return list(crm.pull_contacts(cursor))


def by_id(pages: list[ContactPage]) -> dict:
    return {c.id: c for page in pages for c in page.contacts}


def queries(sandbox: SandboxServer) -> int:
    sf = sandbox.salesforce
    return sf.stats_for("GET queryAll") + sf.stats_for("GET query") + sf.stats_for("GET queryMore")


def activity(key: str, who: str, text: str = "Sounds good") -> EmailActivity:
    return EmailActivity(key=key, contact_id=who, direction="incoming",
                         occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC), subject="Re: pricing", text=text,
                         from_address="lead@client.com", to_addresses=("rep@example.com",))


def test_backfill_reads_contacts_and_leads_across_query_pages(org: SandboxServer, crm: SalesforceCrm) -> None:
    seeded = org.salesforce.seed(1000, start=START)
    pages = pull_all(crm)
    contacts = by_id(pages)
    assert set(contacts) == set(seeded)
    assert {c.object_type for c in contacts.values()} == {"contact", "lead"}
    assert queries(org) == 6          # 500 of each object in pages of 200: 3 query pages per object
    assert all(len(page.contacts) <= 200 for page in pages)
    lead = contacts[seeded[1]]
    assert lead.object_type == "lead" and lead.company == "Acme" and lead.emails == ("lead1@prospect1.example",)


def test_incremental_pull_reads_only_changes_and_an_idle_pass_costs_one_query_per_object(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    seeded = org.salesforce.seed(300, start=START)
    cursor = pull_all(crm)[-1].cursor
    org.salesforce.update("Contact", seeded[10], FirstName="Renamed")
    org.salesforce.update("Lead", seeded[11], Company="Changed Co")
    changed_pages = pull_all(crm, cursor)
    changed = by_id(changed_pages)
    assert set(changed) == {seeded[10], seeded[11]}
    assert changed[seeded[10]].first_name == "Renamed" and changed[seeded[11]].company == "Changed Co"
    before = queries(org)
    assert pull_all(crm, changed_pages[-1].cursor) == []
    assert queries(org) - before == 2


def test_records_sharing_one_timestamp_are_neither_lost_nor_repeated_across_a_resume(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    seeded = org.salesforce.seed(700, start=START, step=timedelta(0), leads_every=0)   # a bulk import
    seen: list[str] = []
    pages = crm.pull_contacts(None)
    first = next(pages)                              # crash after the first page is saved
    seen += [c.id for c in first.contacts]
    seen += [c.id for page in pull_all(crm, first.cursor) for c in page.contacts]
    assert sorted(seen) == sorted(seeded) and len(seen) == len(set(seen))


def test_merged_contact_is_reported_as_merged_into_the_survivor(org: SandboxServer, crm: SalesforceCrm) -> None:
    keep = org.salesforce.add_contact("keep@client.com", stamp=START)
    lose = org.salesforce.add_contact("dup@client.com", stamp=START)
    cursor = pull_all(crm)[-1].cursor
    org.salesforce.merge(keep, lose)
    changed = by_id(pull_all(crm, cursor))
    assert changed[lose].merged_into == keep and changed[lose].deleted
    assert changed[keep].merged_into is None


def test_converted_lead_is_merged_into_its_contact(org: SandboxServer, crm: SalesforceCrm) -> None:
    lead = org.salesforce.add_lead("new@prospect.com", stamp=START)
    cursor = pull_all(crm)[-1].cursor
    contact = org.salesforce.convert_lead(lead)
    changed = by_id(pull_all(crm, cursor))
    assert changed[lead].merged_into == contact and changed[lead].object_type == "lead"
    assert changed[contact].emails == ("new@prospect.com",)


def test_log_emails_creates_completed_tasks_linked_by_whoid_and_find_logged_sees_them(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    contact = org.salesforce.add_contact("a@client.com")
    lead = org.salesforce.add_lead("b@prospect.com")
    logged = crm.log_emails([activity("k-1", contact, "Yes please"), activity("k-2", lead)])
    assert [item.key for item in logged] == ["k-1", "k-2"]
    [task] = org.salesforce.tasks_for(contact)
    assert task["Status"] == "Completed" and task["TaskSubtype"] == "Email" and task[NAMES.email_key] == "k-1"
    assert task["Description"].startswith("From: lead@client.com") and task["Description"].endswith("Yes please")
    assert task["ActivityDate"] == "2024-05-01"
    assert crm.find_logged(["k-1", "k-2", "k-3"]) == {item.key: item.remote_id for item in logged}


def test_a_create_whose_answer_was_lost_is_found_by_find_logged_not_repeated(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    contact = org.salesforce.add_contact("a@client.com")
    org.faults.add(Fault(provider="salesforce", kind="drop_after", path_prefix="/services/data/v61.0/composite"))
    with pytest.raises(Exception):  # noqa: B017 - the ambiguous failure surfaces, it is not retried blindly
        crm.log_emails([activity("k-lost", contact)])
    found = crm.find_logged(["k-lost"])
    assert list(found) == ["k-lost"] and len(org.salesforce.tasks_for(contact)) == 1
    # even a blind retry cannot double it: the unique key field answers DUPLICATE_VALUE, mapped to the original
    assert crm.log_emails([activity("k-lost", contact)])[0].remote_id == found["k-lost"]
    assert len(org.salesforce.tasks_for(contact)) == 1


def test_update_contacts_writes_contacts_and_leads_with_salesforce_types(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    contact = org.salesforce.add_contact("a@client.com")
    lead = org.salesforce.add_lead("b@prospect.com")
    at_ms = "1714564800000"
    crm.update_contacts([ContactUpdate(contact_id=c, properties={NAMES.reply_count: "2", NAMES.last_reply_at: at_ms,
                                                                 NAMES.last_reply_snippet: "Yes"})
                         for c in (contact, lead)])
    for obj, record_id in (("Contact", contact), ("Lead", lead)):
        record = org.salesforce.record(obj, record_id)
        assert record[NAMES.reply_count] == 2.0 and record[NAMES.last_reply_snippet] == "Yes"
        assert parse_sf_time(record[NAMES.last_reply_at]) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    org.salesforce.delete("Contact", contact)
    with pytest.raises(NotFound, match=contact):
        crm.update_contacts([ContactUpdate(contact_id=contact, properties={NAMES.reply_count: "3"})])


def test_missing_custom_field_is_explained_by_check_and_refused_by_log_emails(
        sandbox: SandboxServer, http: httpx.Client) -> None:
    crm = SalesforceCrm(http, jwt_grant(sandbox))
    results = {r.item: r for r in crm.check()}
    key = results[f"field Task.{NAMES.email_key}"]
    assert not key.ok
    assert "Object Manager > Activity" in key.detail and "Text(255)" in key.detail
    assert "API name Threadline_Key__c" in key.detail and "External ID and Unique" in key.detail
    assert results["daily API budget"].ok and "requests left" in results["daily API budget"].detail
    contact = sandbox.salesforce.add_contact("a@client.com")
    with pytest.raises(MissingField, match="Task.Threadline_Key__c"):
        crm.log_emails([activity("k-1", contact)])


def test_refresh_token_flow_and_session_expiry_refreshes_once(sandbox: SandboxServer, http: httpx.Client) -> None:
    s = sandbox.settings
    crm = SalesforceCrm(http, RefreshTokenGrant(s.salesforce_consumer_key, s.salesforce_refresh_token,
                                                s.salesforce_consumer_secret, login_url=sandbox.url))
    sandbox.salesforce.add_contact("a@client.com")
    assert len(by_id(pull_all(crm))) == 1
    sandbox.salesforce.expire_sessions()
    assert len(by_id(pull_all(crm))) == 1                       # refreshed, then repeated
    assert sandbox.salesforce.stats_for("POST oauth2/token") == 2
    assert crm.api_usage is not None and crm.api_usage[1] == s.salesforce_daily_api_limit


def test_refused_credentials_are_auth_expired(sandbox: SandboxServer, http: httpx.Client) -> None:
    s = sandbox.settings
    crm = SalesforceCrm(http, RefreshTokenGrant(s.salesforce_consumer_key, "revoked", login_url=sandbox.url))
    with pytest.raises(AuthExpired, match="invalid_grant"):
        pull_all(crm)
    other = sandbox.salesforce.register_connected_app("other-app")
    stranger = JwtBearerGrant(s.salesforce_consumer_key, s.salesforce_username, other.private_key_pem,
                              login_url=sandbox.url)   # signed with a key the app never registered
    with pytest.raises(AuthExpired, match="invalid assertion"):
        pull_all(SalesforceCrm(http, stranger))


def test_daily_limit_exceeded_is_raised_at_once_for_a_much_later_retry(
        org: SandboxServer, crm: SalesforceCrm) -> None:
    org.salesforce.add_contact("a@client.com")
    org.salesforce.set_daily_limit(0)
    with pytest.raises(ApiLimitExceeded) as info:
        pull_all(crm)
    assert info.value.retry_after >= 3600
    assert org.salesforce.stats_for("GET queryAll") == 1           # no in-process retries against a spent budget


def test_extra_fields_the_object_lacks_are_left_out_of_the_query_not_fatal(org: SandboxServer,
                                                                           http: httpx.Client) -> None:
    """A field only one object has (or none) must not fail the whole SOQL statement: Salesforce refuses
    a query naming an unknown field. Present fields are still pulled."""
    org.salesforce.add_custom_field("Contact", "Timezone__c")
    seeded = org.salesforce.seed(4, start=START)
    crm = SalesforceCrm(http, jwt_grant(org), batch_size=200, extra_fields=["Timezone__c", "lifecyclestage"])
    contacts = by_id(pull_all(crm))
    assert set(contacts) == set(seeded)
    assert all("Timezone__c" in c.properties for c in contacts.values() if c.object_type == "contact")
