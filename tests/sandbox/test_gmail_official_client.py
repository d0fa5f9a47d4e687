"""Contract check: the UNMODIFIED official client (googleapiclient + google-auth) against the Gmail sandbox.

Two client facts the sandbox and adapter rely on (google-api-python-client 2.x):
* `new_batch_http_request()` builds its URI from the discovery rootUrl and ignores
  `api_endpoint` (googleapis/google-api-python-client#1107), so batches are sent with
  `BatchHttpRequest(batch_uri=<base>/batch/gmail/v1)`;
* media uploads keep the discovery document's https scheme and only swap the host,
  so upload tests run against the sandbox served over TLS.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import google_auth_httplib2
import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, MediaInMemoryUpload

from threadline.sandbox.faults import Fault
from threadline.sandbox.google_oauth import DEFAULT_USER
from threadline.sandbox.server import SandboxServer
from threadline.sandbox.settings import SandboxSettings

REP = DEFAULT_USER
READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def rfc822(n: int, subject: str = "Pricing", extra: str = "") -> bytes:
    return (f"From: buyer@customer.example\r\nTo: {REP}\r\nSubject: {subject}\r\nMessage-ID: <c{n}@customer.example>\r\n"
            f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello {n}, <ok>\r\n").encode()


def user_credentials(sandbox, scopes=None) -> Credentials:
    s = sandbox.settings
    return Credentials(None, refresh_token=s.google_refresh_token, token_uri=f"{sandbox.url}/token",
                       client_id=s.google_client_id, client_secret=s.google_client_secret, scopes=scopes)


def gmail(sandbox, credentials=None):
    return build("gmail", "v1", credentials=credentials or user_credentials(sandbox), static_discovery=True,
                 client_options={"api_endpoint": sandbox.url})


def batch_for(sandbox, callback) -> BatchHttpRequest:
    return BatchHttpRequest(callback=callback, batch_uri=f"{sandbox.url}/batch/gmail/v1")


@pytest.fixture
def service(sandbox):
    return gmail(sandbox)


def test_refresh_token_credentials_open_the_users_mailbox(sandbox, service):
    profile = service.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == REP and profile["messagesTotal"] == 0 and profile["historyId"].isdigit()


def test_service_account_delegation_impersonates_the_subject(sandbox):
    info = sandbox.gmail.register_service_account(sandbox.url)
    creds = service_account.Credentials.from_service_account_info(info, scopes=[READONLY]).with_subject("ceo@example.com")
    profile = gmail(sandbox, creds).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == "ceo@example.com"


def test_service_account_assertion_signed_with_another_key_is_refused(sandbox):
    info = sandbox.gmail.register_service_account(sandbox.url)
    forged = {**sandbox.gmail.register_service_account(sandbox.url), "client_email": info["client_email"]}
    creds = service_account.Credentials.from_service_account_info(forged, scopes=[READONLY]).with_subject(REP)
    with pytest.raises(RefreshError, match="invalid_grant"):
        gmail(sandbox, creds).users().getProfile(userId="me").execute()


def test_delegation_refused_for_one_subject_is_unauthorized_client_until_allowed(sandbox):
    info = sandbox.gmail.register_service_account(sandbox.url)
    sandbox.gmail.oauth.refuse_delegation("bob@example.com")

    def profile(subject: str) -> dict:
        creds = service_account.Credentials.from_service_account_info(info, scopes=[READONLY]).with_subject(subject)
        return gmail(sandbox, creds).users().getProfile(userId="me").execute()

    with pytest.raises(RefreshError) as refused:
        profile("Bob@example.com")
    assert refused.value.args[1] == {"error": "unauthorized_client", "error_description": (
        "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of "
        "the scopes requested.")}
    assert not refused.value.retryable
    assert profile("ann@example.com")["emailAddress"] == "ann@example.com"     # the others are not affected
    sandbox.gmail.oauth.allow_delegation("bob@example.com")                      # the admin authorised the client
    assert profile("bob@example.com")["emailAddress"] == "bob@example.com"


def test_a_subject_that_is_no_workspace_user_is_invalid_grant(sandbox):
    info = sandbox.gmail.register_service_account(sandbox.url)
    sandbox.gmail.oauth.remove_user("gone@example.com")
    creds = service_account.Credentials.from_service_account_info(info, scopes=[READONLY]).with_subject(
        "gone@example.com")
    with pytest.raises(RefreshError) as refused:
        gmail(sandbox, creds).users().getProfile(userId="me").execute()
    assert refused.value.args[1] == {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
    assert not refused.value.retryable


def test_service_account_without_subject_has_no_mailbox(sandbox):
    info = sandbox.gmail.register_service_account(sandbox.url)
    creds = service_account.Credentials.from_service_account_info(info, scopes=[READONLY])
    with pytest.raises(HttpError) as raised:
        gmail(sandbox, creds).users().getProfile(userId="me").execute()
    assert raised.value.resp.status == 400


def test_expired_access_token_is_refreshed_transparently_by_the_client(sandbox, service):
    service.users().getProfile(userId="me").execute()
    sandbox.gmail.oauth.expire_access_tokens()
    assert service.users().labels().list(userId="me").execute()["labels"]
    assert sandbox.stats.snapshot()["by_route"]["google-oauth token"] == 2


def test_invalid_token_answers_401_in_googles_shape(sandbox):
    service = build("gmail", "v1", http=httplib2.Http(), static_discovery=True,
                    client_options={"api_endpoint": sandbox.url})
    request = service.users().getProfile(userId="me")
    request.headers["authorization"] = "Bearer ya29.not-issued"   # no credentials: nothing to refresh
    with pytest.raises(HttpError) as raised:
        request.execute()
    assert raised.value.resp.status == 401
    assert raised.value.error_details[0]["reason"] == "authError"


def test_readonly_token_cannot_send(sandbox):
    service = gmail(sandbox, user_credentials(sandbox, scopes=[READONLY]))
    with pytest.raises(HttpError) as raised:
        service.users().messages().send(userId="me", body={"raw": base64.urlsafe_b64encode(rfc822(1)).decode()}).execute()
    assert raised.value.resp.status == 403


def test_list_filters_by_query_and_pages_with_tokens(sandbox, service):
    from datetime import UTC, datetime, timedelta
    old = sandbox.gmail.deliver(REP, rfc822(0), internal_date=datetime.now(UTC) - timedelta(days=40))
    recent = [sandbox.gmail.deliver(REP, rfc822(i)) for i in range(1, 6)]
    sent = sandbox.gmail.deliver(REP, rfc822(9), labels=("SENT",))
    since = int((datetime.now(UTC) - timedelta(days=30)).timestamp())
    seen, token = [], None
    while True:
        page = service.users().messages().list(userId="me", q=f"after:{since} {{in:inbox in:sent}}",
                                               maxResults=2, pageToken=token).execute()
        seen += [m["id"] for m in page["messages"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == [sent, *reversed(recent)] and old not in seen
    inbox = service.users().messages().list(userId="me", labelIds=["INBOX"], q="-in:sent").execute()
    assert {m["id"] for m in inbox["messages"]} == {old, *recent} and inbox["resultSizeEstimate"] == 6


def test_get_in_every_format(sandbox, service):
    message_id = sandbox.gmail.deliver(REP, rfc822(1))
    get = service.users().messages().get
    raw = get(userId="me", id=message_id, format="raw").execute()
    assert base64.urlsafe_b64decode(raw["raw"]) == rfc822(1) and "payload" not in raw
    full = get(userId="me", id=message_id, format="full").execute()
    assert full["payload"]["mimeType"] == "text/plain"
    assert base64.urlsafe_b64decode(full["payload"]["body"]["data"]).startswith(b"Hello 1")
    assert full["snippet"] == "Hello 1, &lt;ok&gt;" and full["labelIds"] == ["INBOX"]
    meta = get(userId="me", id=message_id, format="metadata", metadataHeaders=["Subject"]).execute()
    assert meta["payload"]["headers"] == [{"name": "Subject", "value": "Pricing"}]
    minimal = get(userId="me", id=message_id, format="minimal").execute()
    assert set(minimal) == {"id", "threadId", "labelIds", "snippet", "sizeEstimate", "historyId", "internalDate"}


def test_replies_join_the_thread_by_references_and_subject(sandbox, service):
    first = sandbox.gmail.deliver(REP, rfc822(1))
    reply = sandbox.gmail.deliver(REP, rfc822(2, "Re: Pricing", "In-Reply-To: <c1@customer.example>\r\n"))
    other = sandbox.gmail.deliver(REP, rfc822(3, "Other", "In-Reply-To: <c1@customer.example>\r\n"))
    thread = service.users().threads().get(userId="me", id=first).execute()
    assert [m["id"] for m in thread["messages"]] == [first, reply]
    assert service.users().messages().get(userId="me", id=other).execute()["threadId"] == other


def test_send_adds_sent_label_and_keeps_the_thread(sandbox, service):
    first = sandbox.gmail.deliver(REP, rfc822(1))
    answer = rfc822(2, "Re: Pricing", "In-Reply-To: <c1@customer.example>\r\nReferences: <c1@customer.example>\r\n")
    sent = service.users().messages().send(
        userId="me", body={"raw": base64.urlsafe_b64encode(answer).decode(), "threadId": first}).execute()
    assert sent["labelIds"] == ["SENT"] and sent["threadId"] == first


def test_history_lists_added_messages_and_404s_when_too_old(sandbox, service):
    start = service.users().getProfile(userId="me").execute()["historyId"]
    added = [sandbox.gmail.deliver(REP, rfc822(i)) for i in range(3)]
    history = service.users().history().list(userId="me", startHistoryId=start, historyTypes="messageAdded",
                                              maxResults=2).execute()
    assert [h["messagesAdded"][0]["message"]["id"] for h in history["history"]] == added[:2]
    rest = service.users().history().list(userId="me", startHistoryId=start, historyTypes="messageAdded",
                                           pageToken=history["nextPageToken"]).execute()
    assert [h["messagesAdded"][0]["message"]["id"] for h in rest["history"]] == added[2:]
    assert rest["historyId"] == str(sandbox.gmail.history_id(REP)) and "nextPageToken" not in rest

    sandbox.gmail.expire_history_before(REP, sandbox.gmail.history_id(REP))
    with pytest.raises(HttpError) as raised:
        service.users().history().list(userId="me", startHistoryId=start).execute()
    assert raised.value.resp.status == 404 and raised.value.error_details[0]["reason"] == "notFound"


def test_expired_history_fault_forces_404(sandbox, service):
    start = service.users().getProfile(userId="me").execute()["historyId"]
    sandbox.faults.add(Fault(provider="gmail", kind="expired_history"))
    with pytest.raises(HttpError) as raised:
        service.users().history().list(userId="me", startHistoryId=start).execute()
    assert raised.value.resp.status == 404
    assert service.users().history().list(userId="me", startHistoryId=start).execute()["historyId"] == start


def test_quota_exhaustion_surfaces_as_http_error_429(sandbox, service):
    sandbox.gmail.quota.units_per_minute = 3
    service.users().getProfile(userId="me").execute()
    with pytest.raises(HttpError) as raised:
        service.users().messages().list(userId="me").execute()
    assert raised.value.resp.status == 429 and int(raised.value.resp["retry-after"]) >= 1
    assert raised.value.error_details[0]["reason"] == "userRateLimitExceeded"
    assert sandbox.stats.snapshot()["throttled"]["gmail"] == 1


def test_batch_answers_every_part_and_counts_each_against_quota(sandbox, service):
    ids = [sandbox.gmail.deliver(REP, rfc822(i)) for i in range(3)]
    sandbox.stats.reset()
    answers: dict[str, object] = {}
    batch = batch_for(sandbox, lambda rid, response, error: answers.__setitem__(rid, error or response["id"]))
    for message_id in [*ids, "0000000000000000"]:
        batch.add(service.users().messages().get(userId="me", id=message_id, format="raw"), request_id=message_id)
    batch.execute()
    assert [answers[i] for i in ids] == ids
    assert isinstance(answers["0000000000000000"], HttpError) and answers["0000000000000000"].resp.status == 404
    assert sandbox.stats.snapshot()["units"]["gmail"] == 4 * 5


def test_batch_of_more_than_100_parts_is_refused(sandbox, service):
    batch = batch_for(sandbox, lambda *args: None)
    for i in range(101):
        batch.add(service.users().labels().list(userId="me"), request_id=str(i))
    with pytest.raises(HttpError) as raised:
        batch.execute()
    assert raised.value.resp.status == 400


def test_insert_and_import_with_json_raw(sandbox, service):
    body = {"raw": base64.urlsafe_b64encode(rfc822(1)).decode(), "labelIds": ["INBOX"]}
    inserted = service.users().messages().insert(userId="me", body=body).execute()
    imported = service.users().messages().import_(userId="me", body={"raw": body["raw"]}).execute()
    assert inserted["labelIds"] == ["INBOX"] and set(imported["labelIds"]) == {"INBOX", "UNREAD"}


def test_labels_and_watch(sandbox, service):
    labels = {label["id"] for label in service.users().labels().list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "DRAFT", "SPAM", "TRASH"} <= labels
    watch = service.users().watch(userId="me", body={"topicName": "projects/p/topics/gmail"}).execute()
    assert watch["historyId"].isdigit() and int(watch["expiration"]) > 0
    service.users().stop(userId="me").execute()


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory) -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxSettings(), tls_dir=Path(tmp_path_factory.mktemp("gmail-tls"))).start()
    yield server
    server.stop()


def test_media_upload_insert_reaches_the_sandbox_over_tls(tls_sandbox):
    assert tls_sandbox.tls is not None
    http = google_auth_httplib2.AuthorizedHttp(user_credentials(tls_sandbox),
                                               http=httplib2.Http(ca_certs=str(tls_sandbox.tls.ca_cert)))
    service = build("gmail", "v1", http=http, static_discovery=True,
                    client_options={"api_endpoint": tls_sandbox.url})
    multipart = service.users().messages().insert(
        userId="me", body={"labelIds": ["INBOX"]},
        media_body=MediaInMemoryUpload(rfc822(1), mimetype="message/rfc822")).execute()
    simple = service.users().messages().insert(
        userId="me", media_body=MediaInMemoryUpload(rfc822(2), mimetype="message/rfc822")).execute()
    http.close()                      # keep-alive connections would hold up the server's shutdown
    stored = {m.id: m.raw for m in tls_sandbox.gmail.messages(REP)}
    assert stored[multipart["id"]] == rfc822(1) and stored[simple["id"]] == rfc822(2)
    assert multipart["labelIds"] == ["INBOX"]
