"""Microsoft's own clients, unmodified, against the Graph sandbox (over TLS, as MSAL requires https).

MSAL's ConfidentialClientApplication gets the token; msgraph-sdk (Kiota) runs every
operation the Outlook adapter uses, plus the ones push needs.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

REP = "rep@contoso.example"
T = TypeVar("T")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = SandboxServer(tls_dir=tmp_path_factory.mktemp("tls")).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(tls_server: SandboxServer) -> Iterator[SandboxServer]:
    tls_server.reset()
    yield tls_server
    tls_server.faults.clear()


def msal_token(sandbox: SandboxServer) -> str:
    """What a daemon does: MSAL client credentials against the sandbox authority."""
    s = sandbox.settings
    app = msal.ConfidentialClientApplication(
        s.graph_client_id, client_credential=s.graph_client_secret, authority=sandbox.graph.authority(sandbox.url),
        instance_discovery=False, http_client=_requests_session(str(sandbox.tls.ca_cert)))
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    app.http_client.close()
    assert "access_token" in result, result
    return result["access_token"]


def _requests_session(ca: str) -> Any:
    import functools

    import requests
    session = requests.Session()
    session.request = functools.partial(session.request, verify=ca)  # REQUESTS_CA_BUNDLE would win otherwise
    return session


class StaticToken(AccessTokenProvider):
    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([])


def run(sandbox: SandboxServer, scenario: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    """Run `scenario` with a GraphServiceClient aimed at the sandbox, closing its connections after."""
    token = msal_token(sandbox)

    async def main() -> T:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sandbox.tls.ca_cert))) as http:
            adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
            adapter.base_url = f"{sandbox.url}/v1.0"
            return await scenario(GraphServiceClient(request_adapter=adapter))

    return asyncio.run(main())


def mail(n: int) -> bytes:
    return (f"From: Buyer <buyer@customer.example>\r\nTo: {REP}\r\nSubject: Question {n}\r\n"
            f"Message-ID: <q{n}@customer.example>\r\n\r\nBody {n}\r\n").encode()


def no_retry(**query: Any) -> RequestConfiguration:
    config = RequestConfiguration(query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(**query),
                                  options=[RetryHandlerOption(max_retries=0)])
    config.headers.add("Prefer", "odata.maxpagesize=2")
    return config


async def full_round(client: GraphServiceClient) -> tuple[list[Message], str]:
    delta = client.users.by_user_id(REP).mail_folders.by_mail_folder_id("inbox").messages.delta
    page = await delta.get(request_configuration=no_retry(select=["id", "conversationId", "receivedDateTime"]))
    items = list(page.value)
    while page.odata_next_link:
        page = await delta.with_url(page.odata_next_link).get()
        items += page.value
    return items, page.odata_delta_link


def test_msal_confidential_client_gets_a_token_from_the_sandbox(sandbox):
    assert msal_token(sandbox).startswith("EwB-")


def test_sdk_delta_round_then_delta_link_returns_only_new_messages(sandbox):
    ids = [sandbox.graph.deliver(REP, mail(i)) for i in range(5)]

    async def scenario(client: GraphServiceClient) -> tuple[list[str], list[str], str]:
        items, delta_link = await full_round(client)
        newcomer = sandbox.graph.deliver(REP, mail(9))
        delta = client.users.by_user_id(REP).mail_folders.by_mail_folder_id("inbox").messages.delta
        later = await delta.with_url(delta_link).get()
        return [m.id for m in items], [m.id for m in later.value], newcomer

    first, later, newcomer = run(sandbox, scenario)
    assert first == ids and later == [newcomer]


def test_sdk_reads_a_message_and_its_mime_content(sandbox):
    message_id = sandbox.graph.deliver(REP, mail(1))

    async def scenario(client: GraphServiceClient) -> tuple[Message, bytes]:
        item = client.users.by_user_id(REP).messages.by_message_id(message_id)
        return await item.get(), await item.content.get()

    message, mime = run(sandbox, scenario)
    assert message.internet_message_id == "<q1@customer.example>" and message.conversation_id
    assert message.from_.email_address.address == "buyer@customer.example"
    assert message.parent_folder_id == sandbox.graph.gateway.mailbox_of(sandbox.graph.register_user(REP)) \
        .folder_ids["inbox"]
    assert mime == mail(1)


def test_sdk_send_mail_lands_in_sent_items(sandbox):
    body = SendMailPostRequestBody(message=Message(
        subject="Hello", body=ItemBody(content_type=BodyType.Text, content="Hi there"),
        to_recipients=[Recipient(email_address=EmailAddress(address="buyer@customer.example"))]),
        save_to_sent_items=True)
    run(sandbox, lambda client: client.users.by_user_id(REP).send_mail.post(body))
    [copy] = sandbox.graph.messages(REP, "sent")
    assert copy.envelope.subject == "Hello" and b"Hi there" in copy.raw


class Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0].encode()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200 if token else 202)
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token)

    def log_message(self, *args: object) -> None:
        pass


def test_sdk_creates_a_subscription_after_the_validation_handshake(sandbox):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        created = run(sandbox, lambda client: client.subscriptions.post(Subscription(
            change_type="created", notification_url=f"http://127.0.0.1:{server.server_address[1]}/notify",
            resource=f"users/{REP}/mailFolders('inbox')/messages", client_state="s3cret",
            expiration_date_time=datetime.now(UTC) + timedelta(days=2))))
    finally:
        server.shutdown()
    assert created.id and created.client_state == "s3cret"
    assert [s.id for s in sandbox.graph.subscriptions()] == [created.id]


def test_sdk_surfaces_429_and_410_as_api_errors_with_the_status(sandbox):
    sandbox.graph.deliver(REP, mail(1))

    async def scenario(client: GraphServiceClient) -> tuple[APIError, APIError]:
        _, delta_link = await full_round(client)
        delta = client.users.by_user_id(REP).mail_folders.by_mail_folder_id("inbox").messages.delta
        sandbox.faults.add(Fault(provider="graph", kind="throttle", delay=1, path_prefix="/v1.0/users/"))
        with pytest.raises(APIError) as throttled:
            await delta.get(request_configuration=no_retry())
        sandbox.graph.expire_delta(REP)
        with pytest.raises(APIError) as gone:
            await delta.with_url(delta_link).get()
        return throttled.value, gone.value

    throttled, gone = run(sandbox, scenario)
    assert throttled.response_status_code == 429 and throttled.error.code == "ApplicationThrottled"
    assert gone.response_status_code == 410 and gone.error.code == "SyncStateNotFound"


def test_sdk_sees_mailbox_not_enabled_for_a_user_without_exchange_online(sandbox):
    """What Graph answers for a directory user with no Exchange Online mailbox, as the SDK raises it."""
    lost = "unlicensed@contoso.example"
    sandbox.graph.add_user_without_mailbox(lost)

    async def scenario(client: GraphServiceClient) -> APIError:
        with pytest.raises(APIError) as refused:
            await client.users.by_user_id(lost).mail_folders.by_mail_folder_id("inbox").messages.delta.get(
                request_configuration=no_retry())
        return refused.value

    refused = run(sandbox, scenario)
    assert refused.response_status_code == 404 and refused.error.code == "MailboxNotEnabledForRESTAPI"
    assert refused.error.message == "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
