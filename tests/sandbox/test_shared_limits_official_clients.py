"""The limits several mailboxes share, as the providers' own clients see them against the sandbox.

Gmail: the per-project quota (every user of the project together) answers 429 `rateLimitExceeded`, the
per-user one `userRateLimitExceeded` (Gmail "Usage limits"); googleapiclient surfaces both as HttpError.
Graph: the per-app limit across every mailbox answers 429 `ApplicationThrottled` with Retry-After;
msgraph-sdk surfaces it as APIError. And our adapter holds every mailbox of the project off after a project 429.
"""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphServiceClient

from tests.sandbox.test_gmail_official_client import gmail
from tests.sandbox.test_graph_official_client import run
from threadline.adapters.errors import RateLimited
from threadline.adapters.gmail import GmailAdapter, from_refresh_token
from threadline.adapters.ratelimit import RateLimiter
from threadline.sandbox.server import SandboxServer

SERVICE_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


def delegated(sandbox: SandboxServer, user: str) -> Any:
    from google.oauth2 import service_account
    info = sandbox.gmail.register_service_account(sandbox.url)
    creds = service_account.Credentials.from_service_account_info(info, scopes=[SERVICE_SCOPE]).with_subject(user)
    return gmail(sandbox, creds)


def test_gmail_project_quota_refuses_every_user_once_they_spent_it_together(sandbox: SandboxServer) -> None:
    sandbox.gmail.project_quota.units_per_minute = 10         # two getProfile + one messages.list = 7 units
    first, second = delegated(sandbox, "ann@example.com"), delegated(sandbox, "bob@example.com")
    first.users().getProfile(userId="me").execute()
    first.users().messages().list(userId="me").execute()
    second.users().getProfile(userId="me").execute()
    with pytest.raises(HttpError) as raised:
        second.users().messages().list(userId="me").execute()          # bob alone spent 1 of his 15,000
    assert raised.value.resp.status == 429 and int(raised.value.resp["retry-after"]) >= 1
    assert raised.value.error_details[0]["reason"] == "rateLimitExceeded"
    assert sandbox.stats.snapshot()["throttled"]["gmail"] == 1


def test_gmail_user_quota_refusal_names_the_user_limit_and_leaves_the_project_alone(sandbox: SandboxServer) -> None:
    sandbox.gmail.quota.units_per_minute = 3
    ann, bob = delegated(sandbox, "ann@example.com"), delegated(sandbox, "bob@example.com")
    ann.users().getProfile(userId="me").execute()
    with pytest.raises(HttpError) as raised:
        ann.users().messages().list(userId="me").execute()
    assert raised.value.error_details[0]["reason"] == "userRateLimitExceeded"
    assert bob.users().getProfile(userId="me").execute()["emailAddress"] == "bob@example.com"


def test_a_project_429_holds_every_mailbox_of_the_project(sandbox: SandboxServer) -> None:
    sandbox.gmail.project_quota.units_per_minute = 1
    s = sandbox.settings
    project = RateLimiter(capacity=1_000, window=60.0, name="gmail")       # sized too large on purpose

    def adapter(user: str) -> GmailAdapter:
        creds = from_refresh_token(s.google_client_id, s.google_client_secret,
                                   sandbox.gmail.oauth.issue_refresh_token(user), token_uri=f"{sandbox.url}/token")
        return GmailAdapter(user, creds, base_url=sandbox.url, project_limiter=project, attempts=1)

    ann, bob = adapter("ann@example.com"), adapter("bob@example.com")
    try:
        ann.client.execute("getProfile", lambda u: u.getProfile(userId="me"))
        with pytest.raises(RateLimited):
            ann.client.execute("labels.list", lambda u: u.labels().list(userId="me"))
        before = sandbox.stats.snapshot()["requests"]["gmail"]
        # Google said the project is spent: bob's call is held by the shared limiter, not sent to be refused.
        project.sleep = lambda seconds: (_ for _ in ()).throw(TimeoutError(f"held {seconds:.1f} s"))
        with pytest.raises(TimeoutError, match="held"):
            bob.client.execute("getProfile", lambda u: u.getProfile(userId="me"))
        assert sandbox.stats.snapshot()["requests"]["gmail"] == before
    finally:
        ann.close()
        bob.close()


def test_graph_app_limit_refuses_every_mailbox_with_application_throttled(tls_sandbox: SandboxServer) -> None:
    graph = tls_sandbox.graph
    graph.limits.app_requests, graph.limits.app_window = 2, 60.0
    for user in ("ann@contoso.example", "bob@contoso.example"):
        graph.register_user(user)
    no_retry = RequestConfiguration(options=[RetryHandlerOption(max_retries=0)])

    async def scenario(client: GraphServiceClient) -> APIError:
        await client.users.by_user_id("ann@contoso.example").mail_folders.get(request_configuration=no_retry)
        await client.users.by_user_id("bob@contoso.example").mail_folders.get(request_configuration=no_retry)
        with pytest.raises(APIError) as throttled:
            await client.users.by_user_id("bob@contoso.example").mail_folders.get(request_configuration=no_retry)
        return throttled.value

    throttled = run(tls_sandbox, scenario)
    assert throttled.response_status_code == 429 and throttled.error.code == "ApplicationThrottled"
    assert int(throttled.response_headers["Retry-After"]) >= 1
    assert graph.limits.peak_per_mailbox == 1
