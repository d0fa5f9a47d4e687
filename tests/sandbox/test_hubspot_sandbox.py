"""The HubSpot simulator's own rules: limits, error shapes, merges, batches, OAuth and search speed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from threadline.sandbox.server import SandboxServer

BASE_MS = 1_700_000_000_000


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.settings.hubspot_token}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as client:
        yield client


def search_body(after: int = 0, limit: int = 200) -> dict:
    return {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": limit,
            "after": str(after)}


def test_ten_second_window_throttles_with_hubspots_body_and_headers(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.hubspot.settings.hubspot_requests_per_10s = 3
    answers = [api.get("/crm/v3/objects/contacts") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = answers[3].json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert sandbox.stats.snapshot()["throttled"]["hubspot"] == 1


def test_search_has_its_own_secondly_limit_and_no_rate_limit_headers(sandbox: SandboxServer,
                                                                     api: httpx.Client) -> None:
    answers = [api.post("/crm/v3/objects/contacts/search", json=search_body()) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in answers[0].headers)
    assert answers[5].json()["policyName"] == "SECONDLY"


def test_unknown_token_gets_hubspots_401(api: httpx.Client) -> None:
    answer = api.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and answer.json()["category"] == "INVALID_AUTHENTICATION"


def test_oauth_refresh_issues_an_access_token_the_api_accepts(sandbox: SandboxServer) -> None:
    s = sandbox.settings
    token = httpx.post(f"{sandbox.url}/oauth/v1/token", data={
        "grant_type": "refresh_token", "client_id": s.hubspot_client_id, "client_secret": s.hubspot_app_secret,
        "refresh_token": s.hubspot_refresh_token}).json()
    assert token["expires_in"] == s.token_ttl_seconds and token["refresh_token"] == s.hubspot_refresh_token
    answer = httpx.get(f"{sandbox.url}/crm/v3/objects/contacts",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.status_code == 200


def test_a_merged_contact_id_answers_with_the_winner(sandbox: SandboxServer, api: httpx.Client) -> None:
    winner = sandbox.hubspot.add_contact("ann@client.com")
    loser = sandbox.hubspot.add_contact("ann@home.example")
    sandbox.hubspot.merge(winner, loser)
    answer = api.get(f"/crm/v3/objects/contacts/{loser}",
                     params={"properties": "hs_merged_object_ids,hs_additional_emails"}).json()
    assert answer["id"] == winner
    assert answer["properties"]["hs_merged_object_ids"] == loser
    assert answer["properties"]["hs_additional_emails"] == "ann@home.example"
    assert len(sandbox.hubspot.contacts) == 1


def test_duplicate_email_conflicts_and_batch_create_reports_per_item_errors(sandbox: SandboxServer,
                                                                           api: httpx.Client) -> None:
    sandbox.hubspot.add_contact("ann@client.com")
    duplicate = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "ANN@client.com"}})
    assert duplicate.status_code == 409 and duplicate.json()["category"] == "CONFLICT"
    batch = api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "bob@client.com"}}, {"properties": {"email": "x@y.z", "nonsense": "1"}}]})
    assert batch.status_code == 207
    assert batch.json()["numErrors"] == 1 and batch.json()["errors"][0]["category"] == "VALIDATION_ERROR"
    too_many = api.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}] * 101})
    assert too_many.status_code == 400


def test_batch_upsert_and_read_by_email(sandbox: SandboxServer, api: httpx.Client) -> None:
    existing = sandbox.hubspot.add_contact("ann@client.com")
    upsert = api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "ann@client.com", "idProperty": "email", "properties": {"company": "Acme"}},
        {"id": "new@client.com", "idProperty": "email", "properties": {"company": "Newco"}}]}).json()
    assert [(r["id"] == existing, r["new"]) for r in upsert["results"]] == [(True, False), (False, True)]
    read = api.post("/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "properties": ["company"], "inputs": [{"id": "new@client.com"}]}).json()
    assert read["results"][0]["properties"]["company"] == "Newco"


def test_search_operators_in_contains_token_and_has_property(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.hubspot.add_contact("ann@acme.com", company="Acme")
    sandbox.hubspot.add_contact("bob@other.org")
    def emails(*filters: dict) -> list[str]:
        body = {"filterGroups": [{"filters": list(filters)}], "properties": ["email"], "limit": 10}
        return sorted(r["properties"]["email"] for r in api.post("/crm/v3/objects/contacts/search",
                                                                 json=body).json()["results"])
    assert emails({"propertyName": "email", "operator": "IN", "values": ["ann@acme.com"]}) == ["ann@acme.com"]
    assert emails({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*.org"}) == ["bob@other.org"]
    assert emails({"propertyName": "company", "operator": "NOT_HAS_PROPERTY"}) == ["bob@other.org"]
    assert emails({"propertyName": "company", "operator": "NEQ", "value": "acme"}) == ["bob@other.org"]


def test_search_deep_in_100000_contacts_is_fast_and_stops_at_the_cap(sandbox: SandboxServer,
                                                                     api: httpx.Client) -> None:
    sandbox.hubspot.seed_contacts(100_000, timestamps=[BASE_MS + k for k in range(1000)])
    started = time.monotonic()
    page = api.post("/crm/v3/objects/contacts/search", json=search_body(after=9800)).json()
    assert time.monotonic() - started < 0.5
    assert page["total"] == 100_000 and page["paging"]["next"]["after"] == "10000"
    past = api.post("/crm/v3/objects/contacts/search", json=search_body(after=10_000))
    assert past.status_code == 400 and past.json()["category"] == "VALIDATION_ERROR"
