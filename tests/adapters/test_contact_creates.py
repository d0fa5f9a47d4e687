"""The CRM adapters' part in sync.create_contacts, through real HTTP to the sandboxes: look up by address, create
only the missing people, settle a duplicate the CRM refuses; the official clients read the records back."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce

from threadline.adapters.hubspot import HubSpotCrm
from threadline.adapters.records import NewContact
from threadline.adapters.salesforce import JwtBearerGrant, SalesforceCrm
from threadline.sandbox.server import SandboxServer


def person(email: str, first: str | None = "Quinn", last: str | None = "Hale", company: str | None = "Acme Corp",
           owner: str | None = None) -> NewContact:
    return NewContact(key=f"cc-{email}", email=email, first_name=first, last_name=last, company=company,
                      owner_id=owner)


# -- HubSpot ---------------------------------------------------------------------------------------

@pytest.fixture
def hubspot(sandbox: SandboxServer, http: httpx.Client) -> HubSpotCrm:
    return HubSpotCrm(http, token=sandbox.settings.hubspot_token)


def test_hubspot_creates_the_missing_contacts_and_finds_the_others(sandbox: SandboxServer, hubspot: HubSpotCrm) -> None:
    owner = sandbox.hubspot.add_owner("alex@northwind.example")
    existing = sandbox.hubspot.add_contact("ann@client.example", firstname="Ann")
    done = {d.key: d for d in hubspot.create_contacts([person("quinn@acme.example", owner=owner),
                                                       person("ANN@client.example", first="Annie")])}
    assert done["cc-ANN@client.example"].created is False
    assert done["cc-ANN@client.example"].contact.id == existing
    made = done["cc-quinn@acme.example"]
    assert made.created is True and made.contact.emails == ("quinn@acme.example",)
    # The official client reads what was written.
    client = HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)
    read = client.crm.contacts.basic_api.get_by_id(
        made.contact.id, properties=["email", "firstname", "lastname", "company", "hubspot_owner_id"])
    assert read.properties["firstname"] == "Quinn" and read.properties["lastname"] == "Hale"
    assert read.properties["company"] == "Acme Corp" and read.properties["hubspot_owner_id"] == owner
    assert sandbox.hubspot.object("contacts", existing).properties["firstname"] == "Ann"     # found, not changed
    again = hubspot.create_contacts([person("quinn@acme.example")])                        # safe to repeat
    assert [(d.created, d.contact.id) for d in again] == [(False, made.contact.id)]
    assert hubspot.find_contacts_by_email(["Quinn@Acme.example", "nobody@acme.example"]).keys() == {
        "quinn@acme.example"}


def test_hubspot_a_contact_created_between_the_look_up_and_the_create_is_found_on_the_409(
        sandbox: SandboxServer, hubspot: HubSpotCrm) -> None:
    """Someone creates the person right after the look-up: HubSpot refuses the batch (409 CONFLICT), the
    addresses are read again, the other person is created, nobody twice."""
    real_post = hubspot._post
    calls: list[str] = []
    meanwhile: dict[str, str] = {}

    def post(path: str, body: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        calls.append(path.rsplit("/", 1)[-1])
        if path.endswith("/batch/create") and not meanwhile:
            meanwhile["id"] = sandbox.hubspot.add_contact("quinn@acme.example", firstname="Q")
        return real_post(path, body, idempotent=idempotent)

    hubspot._post = post  # type: ignore[method-assign]
    done = {d.key: d for d in hubspot.create_contacts([person("quinn@acme.example"), person("robin@acme.example")])}
    assert calls == ["read", "create", "read", "create"]
    assert (done["cc-quinn@acme.example"].created, done["cc-quinn@acme.example"].contact.id) == (False, meanwhile["id"])
    assert done["cc-robin@acme.example"].created is True
    addresses = sorted(c.properties["email"] for c in sandbox.hubspot.contacts)
    assert addresses == ["quinn@acme.example", "robin@acme.example"]


def test_hubspot_sandbox_refuses_a_whole_batch_holding_an_existing_address(sandbox: SandboxServer,
                                                                           http: httpx.Client) -> None:
    existing = sandbox.hubspot.add_contact("ann@client.example")
    answer = http.post("/crm/v3/objects/contacts/batch/create",
                       headers={"Authorization": f"Bearer {sandbox.settings.hubspot_token}"},
                       json={"inputs": [{"properties": {"email": "new@client.example"}},
                                        {"properties": {"email": "Ann@client.example"}}]})
    assert answer.status_code == 409
    assert answer.json()["category"] == "CONFLICT"
    assert answer.json()["message"] == f"Contact already exists. Existing ID: {existing}"
    assert len(sandbox.hubspot.contacts) == 1                   # nothing of the batch was created


# -- Salesforce ------------------------------------------------------------------------------------

@pytest.fixture
def tls_http(tls_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    assert tls_sandbox.tls is not None
    verify = ssl.create_default_context(cafile=str(tls_sandbox.tls.ca_cert))
    with httpx.Client(base_url=tls_sandbox.url, timeout=10, verify=verify) as client:
        yield client


@pytest.fixture
def salesforce(tls_sandbox: SandboxServer, tls_http: httpx.Client) -> SalesforceCrm:
    app = tls_sandbox.salesforce.default_app
    grant = JwtBearerGrant(app.consumer_key, app.username, app.private_key_pem, login_url=tls_sandbox.url)
    return SalesforceCrm(tls_http, grant)


@pytest.fixture
def sf(tls_sandbox: SandboxServer, tls_http: httpx.Client, salesforce: SalesforceCrm,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    """simple-salesforce on the session the adapter opened (the sandbox's own OAuth)."""
    assert tls_sandbox.tls is not None
    session = salesforce.api.sessions.current()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.tls.ca_cert))
    http = requests.Session()
    http.verify = str(tls_sandbox.tls.ca_cert)
    yield Salesforce(instance_url=session.instance_url, session_id=session.access_token, session=http,
                     version="61.0")
    http.close()


def test_salesforce_creates_leads_with_required_fields_and_finds_contacts_first(
        tls_sandbox: SandboxServer, salesforce: SalesforceCrm, sf: Salesforce) -> None:
    org = tls_sandbox.salesforce
    user = org.add_user("alex@northwind.example", email="alex@northwind.example")
    contact = org.add_contact("ann@client.example", first_name="Ann", last_name="Lee")
    org.add_lead("ann@client.example", first_name="Ann", last_name="Lee")                 # the Contact wins
    converted = org.add_lead("pat@client.example", first_name="Pat", last_name="Poe")
    org.org.row("Lead", converted).update(IsConverted=True)                              # not a live person
    done = {d.key: d for d in salesforce.create_contacts([
        person("quinn@acme.example", owner=user), person("ann@client.example"),
        person("pat@client.example", first="Pat", last="Poe"), person("robin@x.example", first=None, last=None,
                                                                      company=None)])}
    assert (done["cc-ann@client.example"].created, done["cc-ann@client.example"].contact.id) == (False, contact)
    quinn = done["cc-quinn@acme.example"]
    assert quinn.created is True and quinn.contact.object_type == "lead"
    assert done["cc-pat@client.example"].created is True          # a converted Lead's address is made again
    # The official client reads the Leads back.
    [lead] = sf.query("SELECT FirstName, LastName, Company, OwnerId FROM Lead "
                      "WHERE Email = 'quinn@acme.example'")["records"]
    assert (lead["FirstName"], lead["LastName"], lead["Company"], lead["OwnerId"]) == ("Quinn", "Hale", "Acme Corp",
                                                                                      user)
    [robin] = sf.query("SELECT FirstName, LastName, Company FROM Lead WHERE Email = 'robin@x.example'")["records"]
    assert (robin["FirstName"], robin["LastName"], robin["Company"]) == (None, "[not provided]", "[not provided]")
    again = salesforce.create_contacts([person("quinn@acme.example")])                 # safe to repeat
    assert [(d.created, d.contact.id) for d in again] == [(False, quinn.contact.id)]


def test_salesforce_sandbox_refuses_a_lead_without_its_required_fields(sf: Salesforce) -> None:
    answer = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "Email": "x@acme.example", "LastName": "Hale"}]})
    assert answer[0]["success"] is False
    assert answer[0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert "Company" in answer[0]["errors"][0]["fields"]
