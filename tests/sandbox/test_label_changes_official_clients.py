"""The sandbox paths opt-in/opt-out labels use, through the providers' official clients, unmodified: Gmail user
labels and their history (google-api-python-client), Outlook categories and the master list (msgraph-sdk), and
deleting logged activities (simple-salesforce's sObject Collections delete, hubspot-api-client's batch archive)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from googleapiclient.errors import HttpError
from hubspot import HubSpot
from hubspot.crm.objects.emails import BatchInputSimplePublicObjectId, SimplePublicObjectId
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.message import Message
from msgraph.generated.models.outlook_category import OutlookCategory
from simple_salesforce import Salesforce

from tests.sandbox.test_gmail_official_client import REP as GMAIL_REP
from tests.sandbox.test_gmail_official_client import gmail, rfc822
from tests.sandbox.test_graph_official_client import StaticToken, _requests_session
from threadline.sandbox.server import SandboxServer


@pytest.fixture
def service(sandbox: SandboxServer) -> Any:
    return gmail(sandbox)


def test_gmail_user_labels_are_created_listed_applied_and_paged_in_history(sandbox: SandboxServer,
                                                                            service: Any) -> None:
    users = service.users()
    created = users.labels().create(userId="me", body={"name": "CRM"}).execute()
    assert created["id"].startswith("Label_") and created["type"] == "user"
    with pytest.raises(HttpError) as taken:                   # names are unique, case-insensitively
        users.labels().create(userId="me", body={"name": "crm"}).execute()
    assert taken.value.resp.status == 409
    names = {label["name"]: label["id"] for label in users.labels().list(userId="me").execute()["labels"]}
    assert names["CRM"] == created["id"] and names["INBOX"] == "INBOX"

    start = users.getProfile(userId="me").execute()["historyId"]
    ids = [sandbox.gmail.deliver(GMAIL_REP, rfc822(n)) for n in range(2)]
    for message in ids:
        users.messages().modify(userId="me", id=message, body={"addLabelIds": [created["id"]]}).execute()
    users.messages().modify(userId="me", id=ids[0], body={"removeLabelIds": [created["id"]]}).execute()
    with pytest.raises(HttpError) as unknown:
        users.messages().modify(userId="me", id=ids[1], body={"addLabelIds": ["Label_999"]}).execute()
    assert unknown.value.resp.status == 400 and "Invalid label: Label_999" in str(unknown.value)

    kinds = ["labelAdded", "labelRemoved"]
    first = users.history().list(userId="me", startHistoryId=start, historyTypes=kinds, maxResults=2).execute()
    rest = users.history().list(userId="me", startHistoryId=start, historyTypes=kinds,
                                pageToken=first["nextPageToken"]).execute()
    records = first["history"] + rest["history"]
    changes = [next((k, v) for k, v in r.items() if k.startswith("labels")) for r in records]
    assert [(kind, change[0]["message"]["id"]) for kind, change in changes] == [
        ("labelsAdded", ids[0]), ("labelsAdded", ids[1]), ("labelsRemoved", ids[0])]
    assert records[0]["labelsAdded"][0]["labelIds"] == [created["id"]]
    assert created["id"] in records[1]["labelsAdded"][0]["message"]["labelIds"]
    assert "nextPageToken" not in rest


GRAPH_REP = "rep@contoso.example"


def graph_client_run(sandbox: SandboxServer, roles: tuple[str, ...], scenario: Any) -> Any:
    """Run `scenario(client)` with msgraph-sdk, as an app granted `roles` (MSAL client credentials)."""
    import msal

    sandbox.graph.register_app("categories-app", "categories-secret", roles=roles)
    assert sandbox.tls is not None
    ca = str(sandbox.tls.ca_cert)
    app = msal.ConfidentialClientApplication("categories-app", client_credential="categories-secret",
                                             authority=sandbox.graph.authority(sandbox.url),
                                             instance_discovery=False, http_client=_requests_session(ca))
    token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    app.http_client.close()

    async def main() -> Any:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as http:
            adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
            adapter.base_url = f"{sandbox.url}/v1.0"
            return await scenario(GraphServiceClient(request_adapter=adapter))
    return asyncio.run(main())


def test_outlook_categories_set_on_a_message_bring_it_back_in_the_delta(tls_sandbox: SandboxServer) -> None:
    message_id = tls_sandbox.graph.deliver(GRAPH_REP, rfc822(7), "inbox")

    async def scenario(client: GraphServiceClient) -> tuple[list[str], list[str], list[str], int]:
        user = client.users.by_user_id(GRAPH_REP)
        master = await user.outlook.master_categories.post(OutlookCategory(display_name="CRM", color="preset2"))
        assert master is not None
        listed = await user.outlook.master_categories.get()
        assert listed is not None and listed.value is not None
        delta = user.mail_folders.by_mail_folder_id("inbox").messages.delta
        first = await delta.get()
        assert first is not None
        while first.odata_next_link:
            first = await delta.with_url(first.odata_next_link).get()
        patched = await user.messages.by_message_id(message_id).patch(Message(categories=["CRM"]))
        assert patched is not None
        again = await delta.with_url(first.odata_delta_link).get()
        assert again is not None and again.value is not None
        try:
            await user.outlook.master_categories.post(OutlookCategory(display_name="crm"))
            status = 0
        except APIError as exc:
            status = exc.response_status_code
        return ([c.display_name for c in listed.value], list(patched.categories or []),
                [i.id for i in again.value if "CRM" in (i.categories or [])], status)

    names, categories, changed, duplicate = graph_client_run(
        tls_sandbox, ("Mail.ReadWrite", "MailboxSettings.ReadWrite"), scenario)
    assert "CRM" in names and "Red Category" in names         # a new mailbox's presets, then ours
    assert categories == ["CRM"] and changed == [message_id] and duplicate == 409


def test_outlook_categories_need_mail_readwrite_to_set_and_mailbox_settings_to_list(
        tls_sandbox: SandboxServer) -> None:
    message_id = tls_sandbox.graph.deliver(GRAPH_REP, rfc822(8), "inbox")

    async def scenario(client: GraphServiceClient) -> list[int]:
        user = client.users.by_user_id(GRAPH_REP)
        statuses = []
        for call in (lambda: user.messages.by_message_id(message_id).patch(Message(categories=["CRM"])),
                     lambda: user.outlook.master_categories.get()):
            try:
                await call()
                statuses.append(200)
            except APIError as exc:
                statuses.append(exc.response_status_code)
        return statuses

    assert graph_client_run(tls_sandbox, ("Mail.Read",), scenario) == [403, 403]


@pytest.fixture
def sf(tls_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    assert tls_sandbox.tls is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.tls.ca_cert))
    s = tls_sandbox.settings
    refresh = tls_sandbox.salesforce.issue_refresh_token(s.salesforce_consumer_key, s.salesforce_username)
    token = requests.post(f"{tls_sandbox.url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": s.salesforce_consumer_key,
        "client_secret": s.salesforce_consumer_secret, "refresh_token": refresh}).json()
    session = requests.Session()
    yield Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                     version="61.0")
    session.close()


def test_salesforce_collections_delete_answers_per_record_and_rolls_back_all_or_none(
        tls_sandbox: SandboxServer, sf: Salesforce) -> None:
    who = tls_sandbox.salesforce.add_contact("buyer@customer.example", last_name="Buyer")
    tasks = [sf.Task.create({"Subject": f"Email {n}", "WhoId": who, "Status": "Completed"})["id"] for n in range(3)]
    sf.Task.delete(tasks[2])

    def delete(ids: list[str], all_or_none: bool) -> Any:
        return sf.restful("composite/sobjects", method="DELETE",
                          params={"ids": ",".join(ids), "allOrNone": str(all_or_none).lower()})

    rolled_back = delete([tasks[0], tasks[2]], True)
    assert [r["success"] for r in rolled_back] == [False, False]
    assert rolled_back[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query(f"SELECT Id FROM Task WHERE Id = '{tasks[0]}'")["totalSize"] == 1

    answer = delete([tasks[0], tasks[1], tasks[2]], False)
    assert [r["success"] for r in answer] == [True, True, False]
    assert answer[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sf.query(f"SELECT Id FROM Task WHERE WhoId = '{who}'")["totalSize"] == 0


def test_hubspot_batch_archive_of_emails_is_idempotent(sandbox: SandboxServer) -> None:
    contact = sandbox.hubspot.add_contact("buyer@customer.example")
    client = HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)
    from hubspot.crm.objects.emails import SimplePublicObjectInputForCreate
    created = client.crm.objects.emails.basic_api.create(SimplePublicObjectInputForCreate(properties={
        "hs_timestamp": "1700000000000", "hs_email_subject": "Re: Pilot", "hs_email_direction": "INCOMING_EMAIL"},
        associations=[{"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                          "associationTypeId": 198}]}]))
    batch = BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=created.id)])
    client.crm.objects.emails.batch_api.archive(batch)
    client.crm.objects.emails.batch_api.archive(batch)        # again: still 204
    assert sandbox.hubspot.emails_for(contact) == []
