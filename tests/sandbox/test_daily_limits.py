"""The sandbox enforces the CRMs' daily limits on a clock the test controls: HubSpot's count starts again at
midnight in the portal's time zone, Salesforce's allocation is a rolling 24 hours. The official clients see
the daily refusals exactly as from the real services (hubspot-api-client's ApiException with the DAILY policy,
simple-salesforce's SalesforceError on REQUEST_LIMIT_EXCEEDED)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.owners.exceptions import ApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from threadline.sandbox.server import SandboxServer


class Clock:
    """A wall clock the test moves."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _hubspot_get(sandbox: SandboxServer) -> httpx.Response:
    return httpx.get(f"{sandbox.url}/crm/v3/owners", params={"limit": 1},
                     headers={"Authorization": f"Bearer {sandbox.settings.hubspot_token}"})


def test_hubspot_daily_count_starts_again_at_midnight_in_the_portals_time_zone(sandbox: SandboxServer) -> None:
    clock = Clock(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))        # 18:00 in New York
    sandbox.hubspot.limits.today = clock
    sandbox.hubspot.settings.hubspot_daily_limit = 3
    sandbox.hubspot.settings.hubspot_portal_timezone = "America/New_York"
    remaining = [_hubspot_get(sandbox).headers["X-HubSpot-RateLimit-Daily-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = _hubspot_get(sandbox)
    assert refused.status_code == 429 and refused.json()["policyName"] == "DAILY"
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    clock.now = datetime(2026, 3, 3, 4, 59, tzinfo=UTC)          # UTC's day turned; New York's has not
    assert _hubspot_get(sandbox).status_code == 429
    clock.now = datetime(2026, 3, 3, 5, 0, 1, tzinfo=UTC)        # midnight in New York
    fresh = _hubspot_get(sandbox)
    assert fresh.status_code == 200 and fresh.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"


def test_hubspot_search_counts_against_the_day_without_saying_so(sandbox: SandboxServer) -> None:
    sandbox.hubspot.limits.today = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    sandbox.hubspot.settings.hubspot_daily_limit = 5
    auth = {"Authorization": f"Bearer {sandbox.settings.hubspot_token}"}
    search = httpx.post(f"{sandbox.url}/crm/v3/objects/contacts/search", json={"limit": 1}, headers=auth)
    assert search.status_code == 200 and "X-HubSpot-RateLimit-Daily-Remaining" not in search.headers
    assert _hubspot_get(sandbox).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "3"


def _salesforce_limits(sandbox: SandboxServer, token: str) -> httpx.Response:
    return httpx.get(f"{sandbox.url}/services/data/v61.0/limits", headers={"Authorization": f"Bearer {token}"})


def test_salesforce_allocation_is_a_rolling_24_hours(sandbox: SandboxServer) -> None:
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    sandbox.salesforce.limits.clock = clock
    sandbox.salesforce.set_daily_limit(3)
    token = sandbox.settings.salesforce_access_token
    for hour in range(3):
        clock.now = datetime(2026, 3, 2, 9 + hour, 0, tzinfo=UTC)
        assert _salesforce_limits(sandbox, token).status_code == 200
    refused = _salesforce_limits(sandbox, token)
    assert refused.status_code == 403 and refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    clock.now = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)            # the 09:00 call leaves the window
    answer = _salesforce_limits(sandbox, token)
    assert answer.status_code == 200 and answer.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    assert answer.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}
    assert _salesforce_limits(sandbox, token).status_code == 403  # 10:00 and 11:00 still count
    clock.now = datetime(2026, 3, 3, 11, 1, tzinfo=UTC)
    assert _salesforce_limits(sandbox, token).headers["Sforce-Limit-Info"] == "api-usage=2/3"


def test_hubspot_official_client_raises_its_api_exception_with_the_daily_policy(sandbox: SandboxServer) -> None:
    sandbox.hubspot.settings.hubspot_daily_limit = 0
    client = HubSpot(access_token=sandbox.settings.hubspot_token, host=sandbox.url)
    with pytest.raises(ApiException) as raised:
        client.crm.owners.owners_api.get_page(limit=1)
    assert raised.value.status == 429
    body = json.loads(raised.value.body)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "DAILY"


@pytest.fixture
def salesforce_client(tls_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    """simple-salesforce on a JWT session of the https sandbox (it insists on https)."""
    app = tls_sandbox.salesforce.default_app
    assert tls_sandbox.tls is not None
    assertion = jwt.encode({"iss": app.consumer_key, "sub": app.username, "aud": "https://login.salesforce.com",
                            "exp": int(time.time()) + 180}, app.private_key_pem, algorithm="RS256")
    token = httpx.post(f"{tls_sandbox.url}/services/oauth2/token",
                       verify=ssl.create_default_context(cafile=str(tls_sandbox.tls.ca_cert)),
                       data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                             "assertion": assertion}).json()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.tls.ca_cert))
    session = requests.Session()
    session.verify = str(tls_sandbox.tls.ca_cert)
    yield Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                     version="61.0")
    session.close()


def test_simple_salesforce_raises_salesforce_error_on_request_limit_exceeded(
        tls_sandbox: SandboxServer, salesforce_client: Salesforce) -> None:
    tls_sandbox.salesforce.set_daily_limit(1)
    salesforce_client.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceError, match="REQUEST_LIMIT_EXCEEDED"):
        salesforce_client.query("SELECT Id FROM Contact")
    clock = Clock(datetime.now(UTC) + timedelta(hours=24, minutes=1))
    tls_sandbox.salesforce.limits.clock = clock                    # a day later the allocation is back
    assert salesforce_client.query("SELECT Id FROM Contact")["done"] is True
