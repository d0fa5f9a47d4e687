"""The Graph mail simulator over plain HTTP: delta, $batch, sendMail/reply, limits, subscriptions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from threadline.sandbox.faults import Fault

REP = "rep@contoso.example"
INBOX_DELTA = f"/v1.0/users/{REP}/mailFolders/inbox/messages/delta"


def mail(n: int, *, refs: str = "") -> bytes:
    extra = f"In-Reply-To: {refs}\r\nReferences: {refs}\r\n" if refs else ""
    return (f"From: Buyer <buyer@customer.example>\r\nTo: {REP}\r\nSubject: Question {n}\r\n"
            f"Message-ID: <q{n}@customer.example>\r\n{extra}\r\nBody {n}\r\n").encode()


def app_token(sandbox) -> str:
    s = sandbox.settings
    answer = httpx.post(f"{sandbox.url}/{s.graph_tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": s.graph_client_id, "client_secret": s.graph_client_secret,
        "scope": "https://graph.microsoft.com/.default"})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def graph(sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {app_token(sandbox)}"}) as client:
        yield client


def follow(graph: httpx.Client, url: str, page_size: int = 2, **params) -> tuple[list[dict], str, int]:
    """All items of one delta round, its deltaLink and the number of pages."""
    items, pages = [], 0
    while True:
        answer = graph.get(url, params=params or None, headers={"Prefer": f"odata.maxpagesize={page_size}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["Preference-Applied"] == f"odata.maxpagesize={page_size}"
        body, pages, params = answer.json(), pages + 1, {}
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_delta_pages_then_delta_link_then_only_changes(sandbox, graph):
    first = [sandbox.graph.deliver(REP, mail(i)) for i in range(5)]
    items, delta_link, pages = follow(graph, INBOX_DELTA, **{"$select": "id,conversationId,receivedDateTime"})
    assert [i["id"] for i in items] == first and pages == 3
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "conversationId", "receivedDateTime"}
    assert "$deltatoken=" in delta_link

    added = sandbox.graph.deliver(REP, mail(9))
    sandbox.graph.delete(REP, first[0])
    changes, _, _ = follow(graph, delta_link)
    assert {c["id"]: c.get("@removed") for c in changes} == {added: None, first[0]: {"reason": "deleted"}}


def test_delta_filter_on_received_date_limits_the_first_round(sandbox, graph):
    sandbox.graph.seed(REP, 20, days=20, sent_every=0)
    items, _, _ = follow(graph, INBOX_DELTA, page_size=50, **{"$filter": "receivedDateTime ge "
                         + sandbox.graph.messages(REP)[10].received.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert len(items) == 10
    assert graph.get(INBOX_DELTA, params={"$filter": "subject eq 'x'"}).status_code == 400


def test_expired_or_unknown_delta_token_answers_410_sync_state_not_found(sandbox, graph):
    sandbox.graph.deliver(REP, mail(1))
    _, delta_link, _ = follow(graph, INBOX_DELTA)
    sandbox.graph.expire_delta(REP)
    gone = graph.get(delta_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    assert graph.get(INBOX_DELTA, params={"$deltatoken": "garbage"}).status_code == 410
    sandbox.faults.add(Fault(provider="graph", kind="expired_history", path_prefix="/v1.0/users/"))
    assert graph.get(INBOX_DELTA).status_code == 410


def test_message_and_mime_and_threading_by_references(sandbox, graph):
    first = sandbox.graph.deliver(REP, mail(1))
    answer_id = sandbox.graph.deliver(REP, mail(2, refs="<q1@customer.example>"))
    message = graph.get(f"/v1.0/users/{REP}/messages/{answer_id}").json()
    assert message["internetMessageId"] == "<q2@customer.example>"
    assert message["from"] == {"emailAddress": {"name": "Buyer", "address": "buyer@customer.example"}}
    assert message["toRecipients"][0]["emailAddress"]["address"] == REP
    assert message["conversationId"] == graph.get(f"/v1.0/users/{REP}/messages/{first}").json()["conversationId"]
    mime = graph.get(f"/v1.0/users/{REP}/messages/{answer_id}/$value")
    assert mime.content == mail(2, refs="<q1@customer.example>")


def test_batch_answers_each_request_and_refuses_more_than_20(sandbox, graph):
    ids = [sandbox.graph.deliver(REP, mail(i)) for i in range(2)]
    batch = graph.post("/v1.0/$batch", json={"requests": [
        {"id": "a", "method": "GET", "url": f"/users/{REP}/messages/{ids[0]}/$value"},
        {"id": "b", "method": "GET", "url": f"/users/{REP}/messages/missing", "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": f"/users/{REP}/messages/{ids[1]}", "dependsOn": ["b"]}]})
    by_id = {r["id"]: r for r in batch.json()["responses"]}
    assert by_id["a"]["status"] == 200 and by_id["a"]["headers"]["Content-Type"] == "text/plain"
    assert by_id["b"]["status"] == 404 and by_id["c"]["status"] == 424
    too_many = [{"id": str(i), "method": "GET", "url": f"/users/{REP}/messages/{ids[0]}"} for i in range(21)]
    refused = graph.post("/v1.0/$batch", json={"requests": too_many})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "BadRequest"


def test_send_mail_lands_in_sent_items_with_its_internet_message_id(sandbox, graph):
    sent = graph.post(f"/v1.0/users/{REP}/sendMail", json={"message": {
        "subject": "Hello", "body": {"contentType": "Text", "content": "Hi there"},
        "toRecipients": [{"emailAddress": {"address": "buyer@customer.example"}}],
        "internetMessageId": "<step-1@threadline>"}, "saveToSentItems": True})
    assert sent.status_code == 202 and sent.content == b""
    [copy] = sandbox.graph.messages(REP, "sent")
    assert copy.envelope.internet_message_id == "<step-1@threadline>" and b"Hi there" in copy.raw


def test_reply_keeps_the_conversation(sandbox, graph):
    original = sandbox.graph.deliver(REP, mail(1))
    assert graph.post(f"/v1.0/users/{REP}/messages/{original}/reply", json={"comment": "Thanks!"}).status_code == 202
    [reply] = sandbox.graph.messages(REP, "sent")
    assert reply.conversation_id == sandbox.graph.messages(REP, "inbox")[0].conversation_id
    assert b"In-Reply-To: <q1@customer.example>" in reply.raw and b"To: Buyer <buyer@customer.example>" in reply.raw


def test_missing_or_expired_token_is_401_invalid_authentication_token(sandbox, graph):
    anonymous = httpx.get(f"{sandbox.url}{INBOX_DELTA}")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    sandbox.graph.expire_access_tokens()
    assert graph.get(INBOX_DELTA).status_code == 401


def test_delegated_token_opens_only_its_own_mailbox(sandbox):
    s = sandbox.settings
    code = sandbox.graph.issue_auth_code(REP)
    tokens = httpx.post(f"{sandbox.url}/{s.graph_tenant_domain}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "client_id": s.graph_client_id, "client_secret": s.graph_client_secret,
        "code": code, "scope": "Mail.Read offline_access"}).json()
    assert tokens["refresh_token"] and tokens["scope"].split() >= ["Mail.Read"]
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    sandbox.graph.register_user("other@contoso.example")
    assert httpx.get(f"{sandbox.url}/v1.0/me/mailFolders('inbox')/messages/delta()", headers=auth).status_code == 200
    other = httpx.get(f"{sandbox.url}/v1.0/users/other@contoso.example/mailFolders/inbox/messages/delta", headers=auth)
    assert other.status_code == 403 and other.json()["error"]["code"] == "ErrorAccessDenied"
    send = httpx.post(f"{sandbox.url}/v1.0/me/sendMail", headers=auth, json={"message": {}})
    assert send.status_code == 403                       # Mail.Send was not consented in this token


def test_a_user_without_exchange_online_answers_mailbox_not_enabled_until_licensed(sandbox, graph):
    lost = "unlicensed@contoso.example"
    sandbox.graph.add_user_without_mailbox(lost)
    sandbox.graph.deliver(REP, mail(1))
    for answer in (graph.get(f"/v1.0/users/{lost}/mailFolders/inbox/messages/delta"),
                   graph.get(f"/v1.0/users/{sandbox.graph.identity.user(lost).id}/mailFolders/sentitems"),
                   graph.post(f"/v1.0/users/{lost}/sendMail", json={"message": {"subject": "Hi"}})):
        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["message"]) == (
            "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
        assert error["innerError"]["request-id"]
    batch = graph.post("/v1.0/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{lost}/mailFolders/inbox"},
        {"id": "2", "method": "GET", "url": f"/users/{REP}/mailFolders/inbox"}]}).json()["responses"]
    by_id = {r["id"]: r for r in batch}
    assert by_id["1"]["status"] == 404 and by_id["1"]["body"]["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert by_id["2"]["status"] == 200                   # the other mailbox answers as before
    sandbox.graph.enable_mailbox(lost)                   # an admin assigned an Exchange Online licence
    assert graph.get(f"/v1.0/users/{lost}/mailFolders/inbox/messages/delta").status_code == 200


def test_more_than_4_concurrent_requests_per_mailbox_are_throttled(sandbox, graph):
    # Each request is held for a second, so all 8 overlap even on a loaded CI machine (0.3 s did not always).
    sandbox.graph.limits.delay = 1.0
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: graph.get(f"/v1.0/users/{REP}/mailFolders/inbox"), range(8)))
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.json()["error"]["code"] == "MailboxConcurrency" and a.headers["Retry-After"]
                           for a in refused)
    assert sum(a.status_code == 200 for a in answers) >= 4


def test_request_window_per_app_and_mailbox_answers_429_with_retry_after(sandbox, graph):
    sandbox.graph.limits.requests = 3
    codes = [graph.get(f"/v1.0/users/{REP}/mailFolders/inbox").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = graph.get(f"/v1.0/users/{REP}/mailFolders/inbox")
    assert throttled.json()["error"]["code"] == "ApplicationThrottled" and int(throttled.headers["Retry-After"]) > 0


class Receiver(BaseHTTPRequestHandler):
    """A notification endpoint: echoes validation tokens, records notifications."""

    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        token = parse_qs(urlsplit(self.path).query).get("validationToken")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = token[0].encode() if token else b""
        if not token:
            Receiver.received.append(body)
        self.send_response(200 if token else 202)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/graph/notify"
    server.shutdown()


def test_subscription_validates_the_endpoint_then_notifies_with_client_state(sandbox, graph, receiver):
    created = graph.post("/v1.0/subscriptions", json={
        "changeType": "created", "notificationUrl": receiver, "clientState": "s3cret",
        "resource": f"users/{REP}/mailFolders('inbox')/messages",
        "expirationDateTime": "2020-01-01T00:00:00Z"})
    assert created.status_code == 400                    # expiry must be in the future
    expiry = (sandbox.graph.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = graph.post("/v1.0/subscriptions", json={
        "changeType": "created", "notificationUrl": receiver, "clientState": "s3cret",
        "resource": f"users/{REP}/mailFolders('inbox')/messages", "expirationDateTime": expiry})
    assert created.status_code == 201, created.text
    message_id = sandbox.graph.deliver(REP, mail(1))
    [notification] = [json.loads(b)["value"][0] for b in Receiver.received]
    assert notification["clientState"] == "s3cret" and notification["resourceData"]["id"] == message_id
    sub_id = created.json()["id"]
    assert graph.patch(f"/v1.0/subscriptions/{sub_id}", json={"expirationDateTime": expiry}).status_code == 200
    assert graph.delete(f"/v1.0/subscriptions/{sub_id}").status_code == 204


def test_subscription_with_an_unreachable_endpoint_is_refused(sandbox, graph):
    expiry = (sandbox.graph.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = graph.post("/v1.0/subscriptions", json={
        "changeType": "created", "notificationUrl": "http://127.0.0.1:9/nothing-here",
        "resource": f"users/{REP}/messages", "expirationDateTime": expiry})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
