"""An admin adds their own data to a running sandbox: `POST /_sandbox/seed` and `threadline sandbox seed`.

What was seeded is read back the way a client would: HubSpot through its official SDK, Salesforce with SOQL,
Gmail through google-api-python-client with the refresh token the seed returned, Graph with an app token."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from hubspot import HubSpot
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from typer.testing import CliRunner

from threadline.connector.cli.main import app
from threadline.sandbox.google_oauth import DEFAULT_USER as GMAIL_DEFAULT_USER
from threadline.sandbox.server import SandboxServer, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "sandbox-seed.example.yaml"
REP = "maria.garcia@northwind.example"
OUTREACH = "<pricing-1@northwind.example>"
BODY: dict[str, Any] = {
    "hubspot": {
        "owners": [{"email": REP, "first_name": "Maria", "last_name": "Garcia"}],
        "contacts": [
            {"email": "li.wei@stark.example", "properties": {"firstname": "Li", "company": "Stark"}, "owner": REP},
            {"email": "nina@cyberdyne.example", "properties": {"numberofemployees": 40, "hs_email_optout": False},
             "additional_emails": ["nina@cyberdyne-labs.example"]}]},
    "salesforce": {
        "fields": [{"object": "Contact", "name": "Region__c"}],
        "users": [{"email": REP, "first_name": "Maria", "last_name": "Garcia"}],
        "contacts": [{"email": "li.wei@stark.example", "first_name": "Li", "last_name": "Wei", "owner": REP,
                      "fields": {"Region__c": "APAC", "Title": "Buyer"}}],
        "leads": [{"email": "tom@tyrell.example", "last_name": "Becker", "company": "Tyrell"}]},
    "gmail": {"messages": [
        {"mailbox": REP, "sent": True, "to": "li.wei@stark.example", "subject": "Pricing", "text": "Numbers inside.",
         "message_id": "pricing-1@northwind.example", "date": "2024-05-01T09:00:00Z"},
        {"mailbox": REP, "from": "Li Wei <li.wei@stark.example>", "subject": "Re: Pricing",
         "text": "Thursday works.", "in_reply_to": "pricing-1@northwind.example", "date": "2024-05-01T10:00:00Z"}]},
    "graph": {"users": ["rep2@contoso.example"], "messages": [
        {"mailbox": REP, "from": "li.wei@stark.example", "subject": "Re: Pricing", "text": "Thursday works."},
        {"mailbox": REP, "sent": True, "to": "li.wei@stark.example", "subject": "Pricing", "text": "Numbers."}]},
}


def seed(sandbox: SandboxServer, body: Any) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/_sandbox/seed", json=body, timeout=30)


def hubspot(sandbox: SandboxServer) -> HubSpot:
    return HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)


def hubspot_contact_emails(sandbox: SandboxServer) -> list[str]:
    page = hubspot(sandbox).crm.contacts.basic_api.get_page(limit=100, properties=["email"])
    return sorted(c.properties["email"] for c in page.results)


def soql(sandbox: SandboxServer, query: str) -> list[dict[str, Any]]:
    """Records of a SOQL query, with a session from the org's refresh token, on API v59.0."""
    s = sandbox.settings
    session = httpx.post(f"{sandbox.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": s.salesforce_consumer_key,
        "client_secret": s.salesforce_consumer_secret, "refresh_token": s.salesforce_refresh_token}).json()
    answer = httpx.get(f"{session['instance_url']}/services/data/v59.0/query", params={"q": query},
                       headers={"Authorization": f"Bearer {session['access_token']}"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["records"])


def gmail(sandbox: SandboxServer, refresh_token: str) -> Any:
    s = sandbox.settings
    credentials = Credentials(None, refresh_token=refresh_token, token_uri=f"{sandbox.url}/token",
                              client_id=s.google_client_id, client_secret=s.google_client_secret)
    return build("gmail", "v1", credentials=credentials, static_discovery=True,
                 client_options={"api_endpoint": sandbox.url})


def gmail_messages(service: Any, mailbox: str) -> list[dict[str, Any]]:
    """Every message of the mailbox, oldest first, with its headers."""
    listed = service.users().messages().list(userId=mailbox).execute().get("messages", [])
    found = [service.users().messages().get(userId=mailbox, id=m["id"], format="metadata").execute() for m in listed]
    return sorted(found, key=lambda m: int(m["internalDate"]))


def graph_folder(sandbox: SandboxServer, mailbox: str, folder: str) -> httpx.Response:
    """GET a mail folder's messages with an app-only (client credentials) token."""
    s = sandbox.settings
    token = httpx.post(f"{sandbox.url}/{s.graph_tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": s.graph_client_id, "client_secret": s.graph_client_secret,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    return httpx.get(f"{sandbox.url}/v1.0/users/{mailbox}/mailFolders/{folder}/messages",
                     headers={"Authorization": f"Bearer {token}"})


def graph_messages(sandbox: SandboxServer, mailbox: str, folder: str) -> list[dict[str, Any]]:
    answer = graph_folder(sandbox, mailbox, folder)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


def header(message: dict[str, Any], name: str) -> str:
    return next(h["value"] for h in message["payload"]["headers"] if h["name"].lower() == name.lower())


# The endpoint ---------------------------------------------------------------------------------------------------


def test_seeded_owner_and_contacts_are_in_hubspot_with_their_ids(sandbox: SandboxServer) -> None:
    created = seed(sandbox, {"hubspot": BODY["hubspot"]}).json()["hubspot"]
    client = hubspot(sandbox)
    owners = client.crm.owners.owners_api.get_page(limit=10).results
    assert [(o.id, o.email, o.first_name) for o in owners] == [(created["owners"][0]["id"], REP, "Maria")]
    found = client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="email", operator="EQ", value="li.wei@stark.example")])],
        properties=["email", "firstname", "company", "hubspot_owner_id"])).results
    assert [c.id for c in found] == [created["contacts"][0]["id"]]
    assert found[0].properties["hubspot_owner_id"] == owners[0].id and found[0].properties["company"] == "Stark"
    nina = client.crm.contacts.basic_api.get_by_id(created["contacts"][1]["id"], properties=[
        "numberofemployees", "hs_email_optout", "hs_additional_emails"]).properties
    assert (nina["numberofemployees"], nina["hs_email_optout"]) == ("40", "false")
    assert nina["hs_additional_emails"] == "nina@cyberdyne-labs.example"


def test_seeded_salesforce_records_answer_soql_with_the_owner_and_custom_field(sandbox: SandboxServer) -> None:
    created = seed(sandbox, {"salesforce": BODY["salesforce"]}).json()["salesforce"]
    [user] = soql(sandbox, f"SELECT Id, FirstName, IsActive FROM User WHERE Email = '{REP}'")
    assert user["Id"] == created["users"][0]["id"] and user["IsActive"] is True
    [contact] = soql(sandbox, "SELECT Id, LastName, OwnerId, Region__c, Title FROM Contact")
    assert contact["Id"] == created["contacts"][0]["id"]
    assert (contact["LastName"], contact["OwnerId"], contact["Region__c"], contact["Title"]) == \
        ("Wei", user["Id"], "APAC", "Buyer")
    [lead] = soql(sandbox, "SELECT Id, Company, Email FROM Lead")
    assert (lead["Id"], lead["Company"], lead["Email"]) == (created["leads"][0]["id"], "Tyrell", "tom@tyrell.example")
    assert created["fields"] == [{"object": "Contact", "name": "Region__c"}]


def test_seeded_gmail_mailbox_opens_with_the_returned_token_and_the_reply_is_threaded(sandbox: SandboxServer) -> None:
    created = seed(sandbox, {"gmail": BODY["gmail"]}).json()["gmail"]
    token = created["refresh_tokens"][REP]
    sent, reply = gmail_messages(gmail(sandbox, token), REP)
    assert [sent["id"], reply["id"]] == [m["id"] for m in created["messages"]]
    assert set(sent["labelIds"]) == {"SENT"} and set(reply["labelIds"]) == {"INBOX", "UNREAD"}
    assert header(sent, "Message-ID") == OUTREACH and header(reply, "In-Reply-To") == OUTREACH
    assert header(reply, "From") == "Li Wei <li.wei@stark.example>" and header(reply, "Subject") == "Re: Pricing"
    assert reply["threadId"] == sent["threadId"]
    assert reply["internalDate"] == str(1714557600000)            # the given date: 2024-05-01T10:00:00Z


def test_the_gmail_refresh_token_is_the_same_after_a_restart(sandbox: SandboxServer) -> None:
    body = {"gmail": {"users": [REP]}}
    first = seed(sandbox, body).json()["gmail"]["refresh_tokens"]
    with SandboxServer(port=0) as restarted:
        again = seed(restarted, body).json()["gmail"]["refresh_tokens"]
        assert again == first
        profile = gmail(restarted, again[REP]).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == REP


def test_seeded_graph_mail_is_filed_in_inbox_and_sent_items(sandbox: SandboxServer) -> None:
    created = seed(sandbox, {"graph": BODY["graph"]}).json()["graph"]
    assert [u["address"] for u in created["users"]] == ["rep2@contoso.example", REP]
    inbox, sent = graph_messages(sandbox, REP, "inbox"), graph_messages(sandbox, REP, "sentitems")
    assert [m["id"] for m in inbox + sent] == [m["id"] for m in created["messages"]]
    assert inbox[0]["from"]["emailAddress"]["address"] == "li.wei@stark.example"
    assert sent[0]["toRecipients"][0]["emailAddress"]["address"] == "li.wei@stark.example"
    assert graph_messages(sandbox, "rep2@contoso.example", "inbox") == []      # registered: its mailbox exists


def test_a_bad_body_names_every_problem_by_path_and_seeds_nothing(sandbox: SandboxServer) -> None:
    body = copy.deepcopy(BODY)
    body["hubspot"]["contacts"].append({"properties": {"firstname": "No address"}})
    body["hubspot"]["owners"][0]["archived"] = "no"
    body["gmail"]["messages"][0]["colour"] = "red"
    body["gmail"]["messages"][1]["mailbox"] = GMAIL_DEFAULT_USER
    body["hubspots"] = {}
    answer = seed(sandbox, body)
    assert answer.status_code == 400
    said = answer.json()
    assert said["error"] == "hubspot.owners[0].archived: should be a valid boolean"
    assert "hubspot.contacts[2].email: required" in said["problems"]
    assert any(p.startswith("gmail.messages[0].colour: unknown key (expected one of: mailbox, from, to")
               for p in said["problems"])
    assert any(p.startswith("hubspots: unknown key") for p in said["problems"])
    _nothing_seeded(sandbox)


def test_what_a_crm_would_refuse_seeds_nothing_in_any_provider(sandbox: SandboxServer) -> None:
    body = copy.deepcopy(BODY)
    body["hubspot"]["contacts"][0]["properties"]["favourite_colour"] = "red"
    body["salesforce"]["contacts"][0]["fields"]["Nope__c"] = "x"
    body["gmail"]["messages"][1]["mailbox"] = GMAIL_DEFAULT_USER
    answer = seed(sandbox, body)
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        'hubspot.contacts[0].properties.favourite_colour: Property "favourite_colour" does not exist (create it '
        "with POST /crm/v3/properties/contacts first)",
        "salesforce.contacts[0].fields.Nope__c: the org has no Contact field Nope__c (add it under salesforce.fields)"]
    _nothing_seeded(sandbox)


def test_a_value_a_hubspot_dropdown_does_not_offer_is_refused_before_anything_is_seeded(
        sandbox: SandboxServer) -> None:
    body = copy.deepcopy(BODY)
    body["hubspot"]["contacts"][0]["properties"]["hs_lead_status"] = "bogus"      # not one of its options
    answer = seed(sandbox, body)
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        "hubspot.contacts[0].properties.hs_lead_status: bogus was not one of the allowed options: [NEW, OPEN, "
        "IN_PROGRESS, OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED, BAD_TIMING]"]
    _nothing_seeded(sandbox)


def test_a_null_property_is_left_unset_not_refused(sandbox: SandboxServer) -> None:
    body = copy.deepcopy(BODY)
    body["hubspot"]["contacts"][0]["properties"]["hs_lead_status"] = None    # the schema allows null
    answer = seed(sandbox, body)
    assert answer.status_code == 200, answer.text
    [contact] = [c for c in sandbox.hubspot.contacts
                 if c.properties.get("email") == body["hubspot"]["contacts"][0]["email"]]
    assert "hs_lead_status" not in contact.properties or not contact.properties["hs_lead_status"]


def test_a_record_the_org_refuses_while_seeding_takes_back_what_was_written(sandbox: SandboxServer) -> None:
    body = copy.deepcopy(BODY)
    body["salesforce"]["leads"][0]["fields"] = {"OwnerId": "005000000000000AAA"}     # no such User
    answer = seed(sandbox, body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("salesforce.leads[0]: invalid cross reference id")
    _nothing_seeded(sandbox)


def test_an_address_the_crm_already_has_is_a_conflict_and_seeds_nothing(sandbox: SandboxServer) -> None:
    seed(sandbox, {"hubspot": {"contacts": [{"email": "li.wei@stark.example"}]}})
    answer = seed(sandbox, {"hubspot": {"contacts": [{"email": "new@stark.example"}, {"email": "LI.WEI@stark.example"}]}})
    assert answer.status_code == 409
    assert answer.json()["error"].startswith("hubspot.contacts[1].email: the sandbox already has a contact")
    assert hubspot_contact_emails(sandbox) == ["li.wei@stark.example"]


def test_a_body_that_is_not_json_is_refused(sandbox: SandboxServer) -> None:
    answer = httpx.post(f"{sandbox.url}/_sandbox/seed", content=b"{hubspot: }")
    assert answer.status_code == 400 and answer.json()["error"].startswith("body: not valid JSON")
    assert seed(sandbox, ["hubspot"]).json()["error"] == "body: should be an object"


def _nothing_seeded(sandbox: SandboxServer) -> None:
    assert hubspot(sandbox).crm.owners.owners_api.get_page(limit=10).results == []
    assert hubspot_contact_emails(sandbox) == []
    assert soql(sandbox, "SELECT Id FROM Contact") == [] and soql(sandbox, "SELECT Id FROM Lead") == []
    assert [u["Email"] for u in soql(sandbox, "SELECT Email FROM User")] == [sandbox.settings.salesforce_username]
    fields = httpx.get(f"{sandbox.url}/services/data/v59.0/sobjects/Contact/describe",
                       headers={"Authorization": f"Bearer {sandbox.settings.salesforce_access_token}"}).json()
    assert "Region__c" not in {f["name"] for f in fields["fields"]}
    default_mailbox = gmail(sandbox, sandbox.settings.google_refresh_token)
    assert gmail_messages(default_mailbox, GMAIL_DEFAULT_USER) == []
    unknown = graph_folder(sandbox, REP, "inbox")         # not even registered
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ErrorInvalidUser"


# The command ----------------------------------------------------------------------------------------------------


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["sandbox", *args])


def printed(output: str) -> dict[str, str]:
    """`provider: ...` lines by provider."""
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def test_seed_command_loads_the_example_file_and_prints_the_ids(sandbox: SandboxServer) -> None:
    result = run_cli("seed", str(EXAMPLE), "--url", sandbox.url)
    assert result.exit_code == 0, result.output
    lines = printed(result.stdout)
    assert list(lines) == ["hubspot", "salesforce", "gmail", "graph"]
    [owner] = hubspot(sandbox).crm.owners.owners_api.get_page(limit=10).results
    assert f"owners {REP}={owner.id}" in lines["hubspot"]
    assert hubspot_contact_emails(sandbox) == ["li.wei@stark.example", "nina.patel@cyberdyne.example",
                                               "tom.becker@tyrell.example"]
    [user] = soql(sandbox, f"SELECT Id FROM User WHERE Email = '{REP}'")
    assert f"users {REP}={user['Id']}" in lines["salesforce"]
    assert "fields Contact.Region__c" in lines["salesforce"]
    token = lines["gmail"].split(f"refresh tokens {REP}=", 1)[1].split()[0]
    sent, reply = gmail_messages(gmail(sandbox, token), REP)
    assert reply["threadId"] == sent["threadId"] and header(reply, "Subject").startswith("Re: Pricing")
    assert len(graph_messages(sandbox, REP, "inbox")) == 1 and len(graph_messages(sandbox, REP, "sentitems")) == 1


def test_seed_command_adds_a_contact_to_the_chosen_crm_without_a_file(sandbox: SandboxServer) -> None:
    result = run_cli("seed", "--contact", "ann@acme.example", "--contact", "bob@acme.example", "--crm", "salesforce",
                     "--url", sandbox.url)
    assert result.exit_code == 0, result.output
    contacts = {r["Email"]: r["Id"] for r in soql(sandbox, "SELECT Id, Email FROM Contact")}
    assert printed(result.stdout) == {"salesforce": "contacts " + ", ".join(f"{e}={i}" for e, i in contacts.items())}
    assert hubspot_contact_emails(sandbox) == []


def test_seed_command_says_in_one_line_that_no_sandbox_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("seed", str(EXAMPLE), "--url", url)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"threadline: no sandbox answers at {url}")


def test_seed_command_says_in_one_line_what_the_sandbox_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    bad = tmp_path / "seed.json"
    bad.write_text('{"hubspot": {"contacts": [{"email": "a@b.example"}, {}, {"firstname": "x"}]}}')
    result = run_cli("seed", str(bad), "--url", sandbox.url)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "threadline: the sandbox refused the seed, nothing was seeded: hubspot.contacts[1].email: required; "
        "hubspot.contacts[2].email: required; hubspot.contacts[2].firstname: unknown key (expected one of: email, "
        "properties, additional_emails, owner)")
    assert hubspot_contact_emails(sandbox) == []


def test_seed_command_trusts_an_https_sandbox_through_its_ca_file(tls_sandbox: SandboxServer) -> None:
    assert tls_sandbox.tls is not None
    untrusted = run_cli("seed", "--contact", "ann@acme.example", "--url", tls_sandbox.url)
    assert untrusted.exit_code == 2 and untrusted.stderr.strip() == (
        f"threadline: cannot verify the certificate of {tls_sandbox.url}: pass --ca-file (ca.pem in the "
        "sandbox's --tls-dir)")
    trusted = run_cli("seed", "--contact", "ann@acme.example", "--crm", "hubspot", "--url", tls_sandbox.url,
                      "--ca-file", str(tls_sandbox.tls.ca_cert))
    assert trusted.exit_code == 0, trusted.output
    assert trusted.stdout.startswith("hubspot: contacts ann@acme.example=")


@pytest.mark.parametrize("text", ["- just\n- a list\n", "hubspot: [unclosed\n"])
def test_seed_command_refuses_a_file_that_is_not_a_seed_in_one_line(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "seed.yaml"
    bad.write_text(text)
    result = run_cli("seed", str(bad), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"threadline: {bad}")


def test_sandbox_help_still_offers_serving_options_and_the_seed_subcommand() -> None:
    served = run_cli("--help")
    assert served.exit_code == 0
    for word in ("--port", "--tls-dir", "--seed", "seed "):
        assert word in served.stdout, word
    seeding = run_cli("seed", "--help")
    assert seeding.exit_code == 0
    for word in ("--url", "--ca-file", "--contact", "--crm", "127.0.0.1:8765"):
        assert word in seeding.stdout, word


def test_a_seeded_picklist_describes_its_values_and_refuses_others_when_restricted(sandbox: SandboxServer) -> None:
    body = {"salesforce": {"fields": [{"object": "Lead", "name": "Stage__c", "type": "picklist",
                                       "values": ["Lead", "MQL"], "restricted": True}],
                           "leads": [{"email": "ok@tyrell.example", "company": "Tyrell", "fields": {"Stage__c": "MQL"}}]}}
    answer = seed(sandbox, body)
    assert answer.status_code == 200, answer.text
    [described] = [f for f in sandbox.salesforce.org.schema.object("Lead").describe("")["fields"]
                   if f["name"] == "Stage__c"]
    assert [v["value"] for v in described["picklistValues"]] == ["Lead", "MQL"] and described["restrictedPicklist"]
    refused = seed(sandbox, {"salesforce": {"leads": [{"email": "no@tyrell.example", "company": "Tyrell",
                                                        "fields": {"Stage__c": "Customer"}}]}})
    assert refused.status_code == 400 and "Stage__c" in refused.text
    assert [r["Email"] for r in soql(sandbox, "SELECT Email FROM Lead WHERE Stage__c = 'MQL'")] == ["ok@tyrell.example"]
