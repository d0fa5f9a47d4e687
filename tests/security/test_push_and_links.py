"""Everything that reaches the daemon from outside proves itself, and a replay changes nothing.

Over the real served app (every feature on): HubSpot v3 signatures with their five-minute window
and exact-replay refusal; Gmail Pub/Sub OIDC tokens (audience, expiry, issuer, signature); Graph
clientState; the /events bearer token; signed unsubscribe links. A refused request must also have
no effect: nothing woken, nothing stored.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from sqlmodel import func, select

from tests.security.app_world import (
    APP_SECRET,
    CLIENT_STATE,
    EVENTS_TOKEN,
    GMAIL_AUDIENCE,
    GRAPH_SUBSCRIPTION,
    PUBLIC_URL,
    UNSUBSCRIBE_SECRET,
    App,
    full_app,
    full_settings,
)
from tests.web.world import ADMIN_TOKEN
from threadline.connector.demo.run import seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.web.push.hubspot_webhooks import ReplayGuard, signature_v3
from threadline.rules.sequences.unsubscribe_links import make_token
from threadline.sandbox.pubsub import PUSH_ACCOUNT
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import CRM_SOURCE, mailbox_source
from threadline.sync.store.tables import ContactRow, EventRow, OutboxRow

HOOK_BODY = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": 1, "eventId": 7}]).encode()


@pytest.fixture
def app(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    with full_app(full_settings(sandbox, sqlite_url, tmp_path)) as served:
        yield served


# -- HubSpot webhooks v3 ------------------------------------------------------------------------------------

def hubspot_headers(stamp_ms: int, body: bytes = HOOK_BODY, uri: str = f"{PUBLIC_URL}/webhooks/hubspot",
                    secret: str = APP_SECRET) -> dict[str, str]:
    stamp = str(stamp_ms)
    return {"X-HubSpot-Signature-v3": signature_v3(secret, "POST", uri, body, stamp),
            "X-HubSpot-Request-Timestamp": stamp, "Content-Type": "application/json"}


def test_hubspot_deliveries_are_signed_recent_and_never_accepted_twice(app: App) -> None:
    hook = f"{app.url}/webhooks/hubspot"
    now = int(time.time() * 1000)
    delivery = hubspot_headers(now)
    assert httpx.post(hook, content=HOOK_BODY, headers=delivery).status_code == 204
    assert app.woken() == {CRM_SOURCE}
    refused = {
        "exact replay within the window": (HOOK_BODY, delivery),
        "six minutes old": (HOOK_BODY, hubspot_headers(now - 6 * 60_000)),
        "six minutes ahead": (HOOK_BODY, hubspot_headers(now + 6 * 60_000)),
        "signed for another URL": (HOOK_BODY, hubspot_headers(now, uri="https://other.example/webhooks/hubspot")),
        "signed with another secret": (HOOK_BODY, hubspot_headers(now, secret="guess")),
        "body changed after signing": (HOOK_BODY.replace(b"7", b"8"), hubspot_headers(now + 1)),
        "timestamp changed after signing": (HOOK_BODY, {**hubspot_headers(now + 2),
                                                        "X-HubSpot-Request-Timestamp": str(now + 3)}),
        "unsigned": (HOOK_BODY, {"Content-Type": "application/json"}),
    }
    for what, (body, headers) in refused.items():
        assert httpx.post(hook, content=body, headers=headers).status_code == 401, what
    assert app.woken() == set(), "a refused delivery woke a source"
    # HubSpot's retry of the same event is a new attempt with its own timestamp and signature: accepted.
    assert httpx.post(hook, content=HOOK_BODY, headers=hubspot_headers(now + 1000)).status_code == 204


def test_a_delivery_replayed_to_another_replica_pulls_but_logs_nothing_twice(
        sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox)
    settings = full_settings(sandbox, sqlite_url, tmp_path, seeded)
    with full_app(settings) as first, full_app(settings) as second:      # two replicas on one store
        first.engine.run_once()
        before = _crm_state(sandbox, first)
        assert sum(before[0].values()) == 3, "the demo's three replies were logged"
        headers = hubspot_headers(int(time.time() * 1000))
        for replica in (first, second):          # the guard is per process: each replica takes it once
            assert httpx.post(f"{replica.url}/webhooks/hubspot", content=HOOK_BODY, headers=headers).status_code == 204
            assert replica.woken() == {CRM_SOURCE}
            replica.engine.mark_due(CRM_SOURCE)
            replica.engine.run_once()
        assert _crm_state(sandbox, first) == before


def _crm_state(sandbox: SandboxServer, app: App) -> tuple[Counter[str], int]:
    """Emails logged per contact in the sandbox CRM, and outbox rows in the store."""
    with app.engine.store.session() as session:
        contacts = session.exec(select(ContactRow.crm_id)).all()
        outbox = session.exec(select(func.count()).select_from(OutboxRow)).one()
    logged = Counter({cid: len(sandbox.hubspot.emails_for(cid)) for cid in contacts})
    assert all(n <= 1 for n in logged.values()), f"a reply was logged twice: {logged}"
    return logged, int(outbox)


# -- Gmail Pub/Sub OIDC ---------------------------------------------------------------------------------------

def gmail_body(address: str = REP) -> bytes:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 9}).encode()).decode()
    return json.dumps({"message": {"data": data, "messageId": "1"}, "subscription": "s"}).encode()


def signed_jwt(signer: crypt.Signer, **claims: object) -> str:
    now = int(time.time())
    base = {"iss": "https://accounts.google.com", "aud": GMAIL_AUDIENCE, "email": PUSH_ACCOUNT,
            "email_verified": True, "sub": "1", "iat": now, "exp": now + 3600}
    return jwt.encode(signer, {**base, **claims}).decode()


def unsigned_jwt() -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    now = int(time.time())
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'iss': 'https://accounts.google.com', 'aud': GMAIL_AUDIENCE, 'email': PUSH_ACCOUNT, 'iat': now, 'exp': now + 3600})}."


def test_gmail_pushes_need_a_google_signed_token_for_our_audience_that_has_not_expired(
        app: App, sandbox: SandboxServer) -> None:
    push = f"{app.url}/push/gmail"
    google = sandbox.pubsub._signer                      # the sandbox's "Google" key, whose certs the app trusts
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    impostor = crypt.RSASigner.from_string(pem, sandbox.pubsub.kid)      # another key claiming Google's key id
    assert httpx.post(push, content=gmail_body(), headers={
        "Authorization": f"Bearer {sandbox.pubsub.token(GMAIL_AUDIENCE)}"}).status_code == 204
    assert app.woken() == {mailbox_source(REP)}
    refused = {
        "another audience": sandbox.pubsub.token("https://attacker.example/push"),
        "expired": sandbox.pubsub.token(GMAIL_AUDIENCE, lifetime=-120),
        "another issuer": signed_jwt(google, iss="https://attacker.example"),
        "not yet valid": signed_jwt(google, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200),
        "signed by another key": signed_jwt(impostor),
        "unsigned (alg none)": unsigned_jwt(),
        "garbage": "not.a.jwt",
    }
    for what, token in refused.items():
        assert httpx.post(push, content=gmail_body(), headers={"Authorization": f"Bearer {token}"}).status_code \
            == 403, what
    assert httpx.post(push, content=gmail_body()).status_code == 403
    assert app.woken() == set(), "a refused push woke a mailbox"
    # A valid push naming a mailbox we do not serve is acknowledged (no redelivery) but wakes nothing.
    assert httpx.post(push, content=gmail_body("stranger@else.example"), headers={
        "Authorization": f"Bearer {sandbox.pubsub.token(GMAIL_AUDIENCE)}"}).status_code == 204
    assert app.woken() == set()


# -- Microsoft Graph clientState ------------------------------------------------------------------------------

def graph_notice(client_state: str, subscription: str = GRAPH_SUBSCRIPTION, **extra: str) -> dict[str, str]:
    return {"subscriptionId": subscription, "clientState": client_state, "changeType": "created", **extra}


def test_graph_notifications_need_our_client_state_on_every_item(app: App) -> None:
    push = f"{app.url}/push/graph"
    for what, items in {
        "wrong clientState": [graph_notice("guess")],
        "no clientState": [{"subscriptionId": GRAPH_SUBSCRIPTION}],
        "one good item and one forged": [graph_notice(CLIENT_STATE), graph_notice(CLIENT_STATE[:-1])],
        "no items to prove anything": [],
    }.items():
        assert httpx.post(push, json={"value": items}).status_code == 403, what
    lifecycle = {"value": [graph_notice("guess", lifecycleEvent="subscriptionRemoved")]}
    assert httpx.post(f"{app.url}/push/graph/lifecycle", json=lifecycle).status_code == 403
    assert app.woken() == set() and app.lifecycle == []
    assert httpx.post(push, json={"value": [graph_notice(CLIENT_STATE, "sub-unknown")]}).status_code == 202
    assert app.woken() == set(), "a subscription we did not create woke a mailbox"
    assert httpx.post(push, json={"value": [graph_notice(CLIENT_STATE)]}).status_code == 202
    assert app.woken() == {mailbox_source(REP)}
    echo = httpx.post(f"{push}?validationToken=abc%20123")          # Graph's handshake, public by design
    assert (echo.status_code, echo.text, echo.headers["content-type"].split(";")[0]) == (200, "abc 123",
                                                                                          "text/plain")


# -- /events bearer token -------------------------------------------------------------------------------------

def test_events_need_their_own_bearer_token_and_a_refused_post_stores_nothing(app: App) -> None:
    with app.engine.store.session() as session:
        session.add(contact_row("c1", "ada@acme.example"))
    event = {"type": "form.submitted", "contact": {"id": "c1"}, "id": "e-1"}
    for what, headers in {
        "no token": {},
        "wrong token": {"Authorization": "Bearer guess"},
        "the admin token": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        "a prefix of the token": {"Authorization": f"Bearer {EVENTS_TOKEN[:-1]}"},
        "the token without the scheme": {"Authorization": EVENTS_TOKEN},
        "basic auth": {"Authorization": "Basic " + base64.b64encode(f"x:{EVENTS_TOKEN}".encode()).decode()},
    }.items():
        assert httpx.post(f"{app.url}/events", json=event, headers=headers).status_code == 401, what
    assert httpx.post(f"{app.url}/events?token={EVENTS_TOKEN}", json=event).status_code == 401
    assert _events(app) == 0 and app.woken() == set()
    accepted = httpx.post(f"{app.url}/events", json=event, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    assert accepted.status_code == 202 and _events(app) == 1
    again = httpx.post(f"{app.url}/events", json=event, headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    assert again.json() == {"accepted": 1, "new": 0} and _events(app) == 1      # a replayed POST adds nothing


def contact_row(crm_id: str, email: str) -> ContactRow:
    return ContactRow(crm_id=crm_id, primary_email=email, updated_at=datetime.now(UTC))


def _events(app: App, type_: str | None = None) -> int:
    with app.engine.store.session() as session:
        query = select(func.count()).select_from(EventRow)
        return int(session.exec(query.where(EventRow.type == type_) if type_ else query).one())


# -- unsubscribe links ----------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_unsubscribe_links_cannot_be_forged_or_tampered_and_get_never_unsubscribes(app: App) -> None:
    with app.engine.store.session() as session:
        session.add_all([contact_row("c1", "ada@acme.example"), contact_row("c2", "bob@acme.example")])
    mine = make_token(UNSUBSCRIBE_SECRET, "c1")
    encoded, mac = mine.split(".")
    forged = {
        "made with another secret": make_token("guess", "c2"),
        "another contact's id with my signature": f"{_b64(b'c2')}.{mac}",
        "signature cut short": f"{encoded}.{mac[:-4]}",
        "signature left off": encoded,
        "empty signature": f"{encoded}.",
        "signature of zeros": f"{encoded}.{_b64(bytes(16))}",
        "not base64": "%%%.%%%",
        "id with a trailing dot segment": f"{mine}.x",
    }
    for what, token in forged.items():
        response = httpx.post(f"{app.url}/unsubscribe/{token}")
        assert response.status_code == 404 and "not valid" in response.text, what
    assert _events(app, "unsubscribed") == 0
    page = httpx.get(f"{app.url}/unsubscribe/{mine}")          # link scanners follow GETs
    assert page.status_code == 200 and "<form" in page.text and _events(app, "unsubscribed") == 0
    for _ in range(2):
        assert httpx.post(f"{app.url}/unsubscribe/{mine}").status_code == 200
    assert _events(app, "unsubscribed") == 1 and app.woken() == {"rules"}


def test_unsubscribe_links_carry_no_expiry_by_design() -> None:
    """CAN-SPAM wants an opt-out link to keep working for at least 30 days after the send, and a prospect who
    finds a year-old email must still be able to leave: the link is a per-contact signature, with no time in it,
    the same token today and in a year. (It stops working only when the secret that signed it is in neither
    server.unsubscribe_secret nor server.unsubscribe_previous_secrets.)"""
    token = make_token(UNSUBSCRIBE_SECRET, "c1")
    assert token == make_token(UNSUBSCRIBE_SECRET, "c1")
    assert base64.urlsafe_b64decode(token.split(".")[0] + "==") == b"c1"


def test_the_replay_memory_is_bounded_and_forgets_after_the_window() -> None:
    guard = ReplayGuard(window_ms=1000, limit=10)
    assert guard.first_time("sig", now_ms=0) and not guard.first_time("sig", now_ms=999)
    assert guard.first_time("sig", now_ms=1000)            # by then verify_v3 refuses its timestamp anyway
    for n in range(100):                                    # a flood of valid deliveries
        assert guard.first_time(f"flood-{n}", now_ms=2000 + n)
    assert len(guard._seen) <= 10
