"""HubSpot webhooks v3: verify the signature and the timestamp window, then say which source to pull.

Signature = base64(HMAC-SHA256(app secret, method + URI + body + timestamp)), header
`X-HubSpot-Signature-v3`, timestamp in `X-HubSpot-Request-Timestamp` (ms); requests older than
five minutes are rejected (replay protection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import unquote

MAX_AGE_MS = 5 * 60 * 1000


class WebhookRejected(Exception):
    """The request is not a valid HubSpot delivery; the reason is safe to log."""


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    # HubSpot decodes a fixed set of URL-encoded characters before signing; unquote covers them.
    message = f"{method.upper()}{unquote(uri)}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(secret: str, method: str, uri: str, body: bytes, headers: dict[str, str],
              now_ms: float | None = None) -> list[dict[str, object]]:
    """Return the delivery's events if signature and timestamp are valid; raise WebhookRejected otherwise."""
    signature = headers.get("x-hubspot-signature-v3")
    timestamp = headers.get("x-hubspot-request-timestamp")
    if not signature or not timestamp:
        raise WebhookRejected("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        age = (now_ms if now_ms is not None else time.time() * 1000) - int(timestamp)
    except ValueError:
        raise WebhookRejected("timestamp is not a number") from None
    if age > MAX_AGE_MS or age < -MAX_AGE_MS:
        raise WebhookRejected("timestamp outside the five-minute window")
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected, signature):
        raise WebhookRejected("signature does not match")
    try:
        events = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRejected("body is not a list of events")
    return events
