"""The official HubSpot SDK (hubspot-api-client, generated from HubSpot's OpenAPI) runs unmodified
against the simulator for every operation the adapter uses. The SDK deserialises each answer into
its models, so a passing test means the simulator's shapes match HubSpot's contract."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4.models import CollectionResponseMultiAssociatedObjectWithLabelForwardPaging
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects.emails import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.emails import Filter as EmailFilter
from hubspot.crm.objects.emails import FilterGroup as EmailFilterGroup
from hubspot.crm.objects.emails import PublicObjectSearchRequest as EmailSearchRequest
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

BASE_MS = 1_700_000_000_000


@pytest.fixture
def client(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)


def _modified_since(ms: int, after: str | None = None, limit: int = 100) -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="lastmodifieddate", operator="GTE", value=str(ms))])],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["email", "hs_additional_emails", "lastmodifieddate"], limit=limit, after=after)


def _email_input(contact_id: str, key: str) -> SimplePublicObjectInputForCreate:
    return SimplePublicObjectInputForCreate(
        properties={"hs_timestamp": str(BASE_MS), "hs_email_direction": "INCOMING_EMAIL",
                    "hs_email_subject": "Re: pricing", "hs_email_text": "Sounds good",
                    "hs_email_headers": json.dumps({"from": {"email": "a@client.com"}, "to": [], "cc": []}),
                    "hs_email_status": "SENT", "threadline_key": key},
        associations=[PublicAssociationsForObject(
            to=PublicObjectId(id=contact_id),
            types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=198)])])


def _add_key_property(client: HubSpot) -> None:
    client.crm.properties.groups_api.create("emails", PropertyGroupCreate(name="threadline", label="Threadline"))
    client.crm.properties.core_api.create("emails", PropertyCreate(
        name="threadline_key", label="Threadline key", type="string", field_type="text", group_name="threadline"))


def test_contacts_search_filters_sorts_and_pages_with_total(sandbox: SandboxServer, client: HubSpot) -> None:
    sandbox.hubspot.seed_contacts(250, start_ms=BASE_MS, step_ms=1000)
    first = client.crm.contacts.search_api.do_search(_modified_since(BASE_MS + 50_000))
    assert first.total == 200 and len(first.results) == 100
    second = client.crm.contacts.search_api.do_search(_modified_since(BASE_MS + 50_000, first.paging.next.after))
    stamps = [r.properties["lastmodifieddate"] for r in first.results + second.results]
    assert stamps == sorted(stamps) and second.paging is None
    assert first.results[0].updated_at.year == 2023


def test_search_past_the_result_cap_answers_400(sandbox: SandboxServer, client: HubSpot) -> None:
    sandbox.hubspot.settings.hubspot_search_result_cap = 300
    sandbox.hubspot.seed_contacts(400, start_ms=BASE_MS)
    page = client.crm.contacts.search_api.do_search(_modified_since(0, after="200", limit=100))
    assert page.paging.next.after == "300"
    with pytest.raises(ContactsApiException) as caught:
        client.crm.contacts.search_api.do_search(_modified_since(0, after="300", limit=100))
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_basic_get_page_and_batch_read_and_update(sandbox: SandboxServer, client: HubSpot) -> None:
    ids = sandbox.hubspot.seed_contacts(15, start_ms=BASE_MS)
    page = client.crm.contacts.basic_api.get_page(limit=10, properties=["email"])
    assert len(page.results) == 10 and page.paging.next.after
    rest = client.crm.contacts.basic_api.get_page(limit=10, after=page.paging.next.after)
    assert {r.id for r in page.results + rest.results} == set(ids)
    read = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=ids[0]), SimplePublicObjectId(id="999999")],
        properties=["email"], properties_with_history=[]))
    assert [r.id for r in read.results] == [ids[0]] and read.num_errors == 1
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    updated = client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=ids[1], properties={"company": "Acme"})]))
    assert updated.results[0].properties["company"] == "Acme"
    assert sandbox.hubspot.object("contacts", ids[1]).properties["company"] == "Acme"


def test_emails_created_with_associations_are_searchable_and_linked(sandbox: SandboxServer, client: HubSpot) -> None:
    contact = sandbox.hubspot.add_contact("lead@client.com")
    _add_key_property(client)
    single = client.crm.objects.emails.basic_api.create(_email_input(contact, "k-1"))
    batch = client.crm.objects.emails.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties=_email_input(contact, "k-2").properties,
                                              associations=_email_input(contact, "k-2").associations)]))
    assert batch.status == "COMPLETE" and single.properties["threadline_key"] == "k-1"
    found = client.crm.objects.emails.search_api.do_search(EmailSearchRequest(
        filter_groups=[EmailFilterGroup(filters=[EmailFilter(property_name="threadline_key", operator="IN",
                                                             values=["k-1", "k-2", "k-3"])])],
        properties=["threadline_key"], limit=10))
    assert sorted(r.properties["threadline_key"] for r in found.results) == ["k-1", "k-2"]
    links = client.crm.associations.v4.basic_api.get_page("contacts", contact, "emails")
    assert isinstance(links, CollectionResponseMultiAssociatedObjectWithLabelForwardPaging)
    assert {link.to_object_id for link in links.results} == {single.id, batch.results[0].id}
    assert links.results[0].association_types[0].type_id == 197


def test_properties_owners_and_duplicate_property(sandbox: SandboxServer, client: HubSpot) -> None:
    sandbox.hubspot.add_owner("rep@example.com")
    _add_key_property(client)
    names = {p.name for p in client.crm.properties.core_api.get_all("emails").results}
    assert {"threadline_key", "hs_email_subject", "hs_timestamp"} <= names
    with pytest.raises(PropertiesApiException) as caught:
        _add_key_property(client)
    assert caught.value.status == 409
    owners = client.crm.owners.owners_api.get_page(limit=10)
    assert [o.email for o in owners.results] == ["rep@example.com"]


def test_errors_reach_the_sdk_in_hubspot_shape(sandbox: SandboxServer, client: HubSpot) -> None:
    with pytest.raises(ContactsApiException) as missing:
        client.crm.contacts.basic_api.get_by_id("424242")
    assert missing.value.status == 404 and json.loads(missing.value.body)["category"] == "OBJECT_NOT_FOUND"
    sandbox.faults.add(Fault(provider="hubspot", kind="throttle", delay=1.0))
    with pytest.raises(ContactsApiException) as throttled:
        client.crm.contacts.basic_api.get_page()
    body = json.loads(throttled.value.body)
    assert throttled.value.status == 429 and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    bad_token = HubSpot(access_token="wrong", host=sandbox.url)
    with pytest.raises(ContactsApiException) as unauthorized:
        bad_token.crm.contacts.basic_api.get_page()
    assert json.loads(unauthorized.value.body)["category"] == "INVALID_AUTHENTICATION"
