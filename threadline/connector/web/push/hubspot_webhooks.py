"""HubSpot webhooks v3: verify the signature and the timestamp window, then say which source to pull.

Signature = base64(HMAC-SHA256(app secret, method + URI + body + timestamp)), header
`X-HubSpot-Signature-v3`, timestamp in `X-HubSpot-Request-Timestamp` (ms); requests older than
five minutes are rejected (replay protection), and so is a second request with a signature already
accepted within the window (ReplayGuard).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
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
    # bytes: compare_digest raises TypeError on a non-ASCII str (a forged header was a 500; test_fuzz_payloads.py)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise WebhookRejected("signature does not match")
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a deeply nested body was a 500
        raise WebhookRejected("body is not JSON") from None
    # Every event an object: the endpoint reads each with .get (a signed [1] was a 500).
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise WebhookRejected("body is not a list of events")
    return events


class ReplayGuard:
    """Remembers the signatures accepted in the last two windows, so an exact replay is refused.

    HubSpot signs every attempt, retries included, with that attempt's own timestamp, so the same
    signature twice is never HubSpot's. A replay could not log anything (a push only wakes a pull
    that reads the stored cursor), but each accepted one costs a CRM pull against the API budget.
    The memory is per process: with replicas a captured delivery is accepted at most once by each.
    """

    def __init__(self, window_ms: float = 2 * MAX_AGE_MS, limit: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._window_ms, self._limit = window_ms, limit
        self._lock = threading.Lock()

    def first_time(self, signature: str, now_ms: float | None = None) -> bool:
        """True the first time `signature` is offered within the window; False for a replay."""
        now = now_ms if now_ms is not None else time.time() * 1000
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen = {sig: at for sig, at in self._seen.items() if now - at < self._window_ms}
            seen_at = self._seen.get(signature)
            if seen_at is not None and now - seen_at < self._window_ms:
                return False
            if len(self._seen) >= self._limit:       # a flood of valid signatures: forget the oldest half
                for sig in sorted(self._seen, key=self._seen.__getitem__)[: self._limit // 2]:
                    del self._seen[sig]
            self._seen[signature] = now
            return True
