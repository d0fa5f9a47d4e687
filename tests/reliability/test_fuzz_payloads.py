"""Hostile bodies at every public endpoint of the real Starlette app, on the real store.

Whatever arrives (not JSON, JSON of the wrong shape, NaN, huge integers, NUL characters, 10,000-deep
nesting), the answer is a 4xx with a reason or the documented 2xx, never a 500, and nothing is woken
or stored that should not be. Push endpoints get correctly *authenticated* garbage too (a valid Pub/Sub
token, a valid HubSpot signature, the right Graph clientState): authentication is not a parser.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select
from starlette.testclient import TestClient

from tests.reliability.strategies import fuzz, json_trees
from threadline.adapters.records import CrmContact
from threadline.config.loading import parse_settings
from threadline.connector.web.admin_auth import COOKIE as ADMIN_COOKIE
from threadline.connector.web.app import GraphHooks, build_web_app
from threadline.connector.web.push.graph_notifications import GraphSubscriptions
from threadline.connector.web.push.hubspot_webhooks import signature_v3
from threadline.connector.web.push.wakeups import Wakeups
from threadline.sandbox.server import SandboxServer
from threadline.sync.contacts.mirror import save_contacts
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EventRow

EVENTS_TOKEN = "events-token-fuzz"
HOOK_SECRET = "hook-secret-fuzz"
CLIENT_STATE = "client-state-fuzz"
AUDIENCE = "https://threadline.example.com/push/gmail"
PUBLIC = "https://threadline.example.com"
ADMIN_TOKEN = "admin-token-fuzz-0000-0000"
REP = "rep@northwind.example"
# Starlette nudges TestClient users towards httpx2; the client works the same for these requests.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
DEEP = b"[" * 3000 + b"]" * 3000         # past the JSON decoder's recursion limit
BODIES = st.one_of(
    st.binary(max_size=200),
    json_trees().map(lambda tree: json.dumps(tree).encode()),
    st.sampled_from([DEEP, b'{"value": ' + DEEP + b"}", b"", b"null", b"NaN", b"\xff\xfe", b'"\x00"',
                     b'{"value": 5}', b'{"value": "ab"}', b'{"value": [1, null, "x"]}', b"[1, 2]",
                     b'[{"subscriptionType": 5}]', b'{"message": {"data": 5}}', b'{"message": "x"}']),
)


class World:
    """The app, its store and what it woke."""

    def __init__(self, store: Store, client: TestClient, wakeups: Wakeups, lifecycle: list[tuple[str, str]]):
        self.store, self.client, self.wakeups, self.lifecycle = store, client, wakeups, lifecycle

    def api_events(self) -> list[EventRow]:
        with self.store.session() as session:
            return list(session.exec(select(EventRow).where(EventRow.source == "api")).all())


@pytest.fixture
def world(sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> Iterator[World]:
    # PostgreSQL: the stricter store (no NUL in text), so what passes here passes on SQLite.
    config = {"store": {"url": postgres_url},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000"},
              "mailboxes": [{"kind": "imap", "address": REP, "host": "127.0.0.1", "username": REP, "password": "x"}],
              "rules": {"scoring": {"custom_events": ["form.submitted", "page.visited"]}},
              "server": {"port": 0, "events_token": EVENTS_TOKEN, "public_url": PUBLIC, "admin_token": ADMIN_TOKEN,
                         "unsubscribe_secret": "unsubscribe-secret-fuzz-0000"},
              "push": {"gmail": {"audience": AUDIENCE, "topic": "projects/p/topics/t", "certs_url": f"{sandbox.url}/oauth2/v1/certs"},
                       "hubspot": {"app_secret": HOOK_SECRET}, "graph": {"client_state": CLIENT_STATE,
                                                                       "notification_url": f"{PUBLIC}/push/graph"}}}
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    store = Store(postgres_url)
    policy = AddressPolicy()
    with store.session() as session:
        save_contacts(session, [CrmContact(id="101", emails=("buyer@customer.example",),
                                           updated_at=datetime.now(UTC))], policy)
    subscriptions = GraphSubscriptions()
    subscriptions.add("sub-1", REP)
    lifecycle: list[tuple[str, str]] = []
    wakeups = Wakeups()
    app = build_web_app(settings, wakeups, GraphHooks(subscriptions, lambda s, e: lifecycle.append((s, e))),
                        store=store, policy=policy)
    with TestClient(app, base_url=PUBLIC) as client:
        yield World(store, client, wakeups, lifecycle)


def acceptable(response: Any, *allowed: int) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])


# --- /events ---------------------------------------------------------------------------------------------

EVENT_FIELDS = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["form.submitted", "page.visited", "x", "A.b", "a." * 60 + "b", "\x00.a"]) | st.text(max_size=20),
    "contact": json_trees(6) | st.fixed_dictionaries({}, optional={
        "id": st.sampled_from(["101", "999", "\x00", "1" * 100]) | st.text(max_size=10),
        "email": st.sampled_from(["buyer@customer.example", "BUYER+x@customer.example", "\x00@x", "", "@"])
        | st.text(max_size=20)}),
    "occurred_at": st.sampled_from(["2026-11-23T09:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                    "not a date", "", 1e300, -1, 10 ** 20]) | json_trees(3),
    "id": st.text(max_size=30) | st.sampled_from(["\x00", "x" * 300]) | json_trees(2),
    "data": st.dictionaries(st.text(max_size=8), json_trees(8), max_size=4) | json_trees(4),
    "extra": st.integers(),
})


@fuzz(120)
@given(body=st.one_of(BODIES, EVENT_FIELDS.map(lambda e: json.dumps(e).encode()),
                      st.lists(EVENT_FIELDS, max_size=3).map(lambda e: json.dumps(e).encode())))
def test_events_answer_every_body_with_202_or_a_reason(world: World, body: bytes) -> None:
    response = world.client.post("/events", content=body, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    acceptable(response, 202, 422)
    if response.status_code == 422:
        assert response.json()["detail"]
    else:
        assert response.json()["accepted"] >= 1


def test_an_event_with_nul_characters_and_extreme_dates_is_stored_or_refused_cleanly(world: World) -> None:
    odd = {"type": "form.submitted", "contact": {"email": "buyer@customer.example"}, "id": "a\x00b",
           "occurred_at": "0001-01-01T00:00:00+14:00", "data": {"k\x00": "v\x00", "n": float("nan"), "big": 10 ** 30}}
    response = world.client.post("/events", content=json.dumps(odd).encode(),
                                 headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    acceptable(response, 202, 422)
    assert len(world.api_events()) == (1 if response.status_code == 202 else 0)


@pytest.mark.parametrize("contact", [{"id": "1\x000"}, {"email": "buyer\x00@customer.example"}, {"id": "x" * 5000}])
def test_an_event_naming_a_contact_with_nul_or_oversized_keys_is_refused_with_a_reason(
        world: World, contact: dict[str, str]) -> None:
    body = json.dumps({"type": "form.submitted", "contact": contact}).encode()
    response = world.client.post("/events", content=body, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    acceptable(response, 422)
    assert response.json()["detail"] and world.api_events() == []


def test_events_without_the_token_never_reach_the_parser(world: World) -> None:
    acceptable(world.client.post("/events", content=DEEP), 401)


# --- /push/graph -----------------------------------------------------------------------------------------

@fuzz(120)
@given(body=BODIES | json_trees().map(lambda tree: json.dumps({"value": tree}).encode())
       | st.lists(st.fixed_dictionaries({"clientState": st.just(CLIENT_STATE)}, optional={
           "subscriptionId": json_trees(2), "lifecycleEvent": json_trees(2)}), max_size=3).map(
           lambda items: json.dumps({"value": items}).encode()))
def test_graph_notifications_are_accepted_or_refused_never_crash(world: World, body: bytes) -> None:
    response = world.client.post("/push/graph", content=body)
    acceptable(response, 202, 403)
    assert all(isinstance(event, str) for _, event in world.lifecycle)


def test_graph_notification_for_our_subscription_still_wakes_its_mailbox(world: World) -> None:
    body = json.dumps({"value": [{"clientState": CLIENT_STATE, "subscriptionId": "sub-1"}]}).encode()
    acceptable(world.client.post("/push/graph", content=body), 202)
    assert world.wakeups.take() == {f"mailbox:{REP}"}


# --- /webhooks/hubspot (correctly signed garbage) --------------------------------------------------------

def signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    return {"X-HubSpot-Signature-v3": signature_v3(HOOK_SECRET, "POST", f"{PUBLIC}/webhooks/hubspot", body, stamp),
            "X-HubSpot-Request-Timestamp": stamp}


@fuzz(120)
@given(body=BODIES | st.lists(json_trees(4), max_size=4).map(lambda items: json.dumps(items).encode()))
def test_signed_hubspot_webhooks_with_any_body_are_accepted_or_refused_never_crash(world: World, body: bytes) -> None:
    acceptable(world.client.post("/webhooks/hubspot", content=body, headers=signed_headers(body)), 204, 401)


@fuzz(40)
@given(body=BODIES)
def test_unsigned_hubspot_webhooks_are_refused(world: World, body: bytes) -> None:
    acceptable(world.client.post("/webhooks/hubspot", content=body), 401)
    assert world.wakeups.take() == set()


# --- /push/gmail (with a valid Pub/Sub token) ------------------------------------------------------------

def gmail_body(data: Any) -> bytes:
    encoded = base64.b64encode(json.dumps(data).encode()).decode() if not isinstance(data, bytes) else data.decode()
    return json.dumps({"message": {"data": encoded, "messageId": "1"}, "subscription": "s"}).encode()


@fuzz(40)
@given(body=BODIES | json_trees(6).map(gmail_body) | st.sampled_from([gmail_body(b"!!!notbase64"),
                                                                      gmail_body(b"AAAA"), gmail_body({"emailAddress": None})]))
def test_authenticated_gmail_pushes_with_any_body_are_acknowledged_or_refused(
        world: World, sandbox: SandboxServer, body: bytes) -> None:
    token = sandbox.pubsub.token(AUDIENCE)
    response = world.client.post("/push/gmail", content=body, headers={"Authorization": f"Bearer {token}"})
    acceptable(response, 204, 403)
    assert world.wakeups.take() <= {f"mailbox:{REP}"}


# --- non-ASCII where a secret is compared ---------------------------------------------------------------
# hmac.compare_digest raises TypeError for a str that is not ASCII: each of these was a 500 (found by the soak
# run of test_graph_notifications_are_accepted_or_refused_never_crash).

def test_a_non_ascii_client_state_is_refused(world: World) -> None:
    body = json.dumps({"value": [{"clientState": "\u0080", "subscriptionId": "sub-1"}]}).encode()
    acceptable(world.client.post("/push/graph", content=body), 403)


def test_a_non_ascii_hubspot_signature_is_refused(world: World) -> None:
    headers = {**signed_headers(b"[]"), "X-HubSpot-Signature-v3": "\u00e9t\u00e9".encode("latin-1")}
    acceptable(world.client.post("/webhooks/hubspot", content=b"[]", headers=headers), 401)


def test_a_non_ascii_admin_cookie_or_unsubscribe_link_is_refused(world: World) -> None:
    cookie = f"{ADMIN_COOKIE}=9999999999.\u00e9t\u00e9".encode("latin-1")
    response = world.client.get("/status", headers={"Cookie": cookie}, follow_redirects=False)
    assert response.status_code in (302, 303, 401, 403), response.status_code
    for token in ["\u00e9t\u00e9.x", "YWJj.\u00e9", "%FF%FE.x"]:
        assert world.client.get(f"/unsubscribe/{token}").status_code < 500
