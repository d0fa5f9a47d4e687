"""Push endpoints verify before they act: HubSpot webhook signatures v3 and Gmail Pub/Sub OIDC tokens."""

from __future__ import annotations

import base64
import json
import time

import pytest

from threadline.connector.web.push.gmail_pubsub import PubSubAuth, PushRejected, changed_mailbox, verify_push
from threadline.connector.web.push.hubspot_webhooks import WebhookRejected, signature_v3, verify_v3
from threadline.sandbox.server import SandboxServer

SECRET = "app-secret"
URI = "https://threadline.example.com/webhooks/hubspot"
BODY = json.dumps([{"subscriptionType": "contact.propertyChange", "objectId": 1}]).encode()


def signed(timestamp_ms: int, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    ts = str(timestamp_ms)
    return {"x-hubspot-signature-v3": signature_v3(secret, "POST", URI, body, ts), "x-hubspot-request-timestamp": ts}


def test_a_correctly_signed_recent_hubspot_delivery_is_accepted() -> None:
    now = int(time.time() * 1000)
    assert verify_v3(SECRET, "POST", URI, BODY, signed(now), now_ms=now)[0]["objectId"] == 1


# A fixed "now": parameters are built at collection, which may be minutes before the test runs.
NOW_MS = 1_790_000_000_000


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing"),
    (signed(NOW_MS, secret="other-secret"), "signature does not match"),
    (signed(NOW_MS - 6 * 60 * 1000), "five-minute window"),
])
def test_unsigned_forged_or_replayed_hubspot_deliveries_are_rejected(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        verify_v3(SECRET, "POST", URI, BODY, headers, now_ms=NOW_MS)


def test_a_body_changed_after_signing_is_rejected() -> None:
    now = int(time.time() * 1000)
    with pytest.raises(WebhookRejected, match="signature"):
        verify_v3(SECRET, "POST", URI, BODY.replace(b"1", b"2"), signed(now), now_ms=now)


def _gmail_body(address: str) -> bytes:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 9}).encode()).decode()
    return json.dumps({"message": {"data": data, "messageId": "1"}, "subscription": "s"}).encode()


def test_gmail_push_token_signed_by_google_for_our_audience_is_accepted(sandbox: SandboxServer) -> None:
    auth = PubSubAuth("https://t.example/push/gmail", certs_url=f"{sandbox.url}/oauth2/v1/certs")
    claims = verify_push(f"Bearer {sandbox.pubsub.token('https://t.example/push/gmail')}", auth)
    assert claims["email"] == "gmail-push@threadline-sandbox.iam.gserviceaccount.com"
    assert changed_mailbox(_gmail_body("Rep@Example.com")) == "rep@example.com"


def test_gmail_push_with_another_audience_or_account_or_no_token_is_rejected(sandbox: SandboxServer) -> None:
    certs = f"{sandbox.url}/oauth2/v1/certs"
    with pytest.raises(PushRejected):
        verify_push(f"Bearer {sandbox.pubsub.token('https://attacker.example')}", PubSubAuth("https://t.example", certs_url=certs))
    with pytest.raises(PushRejected, match="service account"):
        verify_push(f"Bearer {sandbox.pubsub.token('https://t.example')}",
                    PubSubAuth("https://t.example", "pinned@x.iam.gserviceaccount.com", certs))
    with pytest.raises(PushRejected, match="missing"):
        verify_push(None, PubSubAuth("https://t.example", certs_url=certs))
    with pytest.raises(PushRejected):
        verify_push("Bearer not.a.jwt", PubSubAuth("https://t.example", certs_url=certs))
