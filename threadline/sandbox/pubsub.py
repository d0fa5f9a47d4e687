"""Cloud Pub/Sub push, as Gmail's `users.watch` uses it: signed OIDC pushes to a subscription's endpoint.

A test (or the demo) registers a push subscription for a topic; each publish POSTs
`{"message": {"data": base64(json), "messageId", "publishTime"}, "subscription"}` with
`Authorization: Bearer <JWT>` signed RS256 by the sandbox's Google key, whose certificate
is served at Google's path `/oauth2/v1/certs`. Deliveries can be dropped, duplicated or
held back and reordered to prove that push never decides *what* is synced.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.settings import SandboxSettings

PUSH_ACCOUNT = "gmail-push@threadline-sandbox.iam.gserviceaccount.com"


@dataclass
class PushSubscription:
    topic: str
    endpoint: str
    audience: str
    service_account_email: str = PUSH_ACCOUNT
    name: str = field(default_factory=lambda: f"projects/sandbox/subscriptions/{uuid.uuid4().hex[:8]}")


@dataclass
class DeliveryControl:
    """Test switches: lose, repeat, or hold back (then release out of order) the next pushes."""

    drop: int = 0
    duplicate: int = 0
    hold: bool = False
    held: list[tuple[PushSubscription, dict[str, Any]]] = field(default_factory=list)


class PubSubSandbox:
    """Push subscriptions and Google's signing certificate. Deliveries run on background threads."""

    name = "pubsub"
    prefixes = ("/oauth2/v1/certs", "/_sandbox/pubsub")

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._signer = crypt.RSASigner.from_string(self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), self.kid)
        self._cert_pem = _self_signed(self._key)
        self._lock = threading.Lock()
        self.subscriptions: list[PushSubscription] = []
        self.control = DeliveryControl()
        self.delivered: list[tuple[str, int]] = []        # (endpoint, HTTP status)
        self.verify: str | bool = True

    def reset(self) -> None:
        with self._lock:
            self.subscriptions.clear()
            self.control = DeliveryControl()
            self.delivered.clear()

    def routes(self) -> list[BaseRoute]:
        return [Route("/oauth2/v1/certs", self._certs, methods=["GET"]),
                Route("/_sandbox/pubsub/subscriptions", self._subscribe, methods=["POST"])]

    def error_response(self, status: int, message: str) -> Response:
        return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)

    def throttled_response(self, retry_after: float) -> Response:
        return self.error_response(429, "quota exceeded")

    def unauthorized_response(self) -> Response:
        return self.error_response(401, "unauthenticated")

    # -- subscriptions and publishing ---------------------------------------------------------
    def subscribe(self, topic: str, endpoint: str, audience: str | None = None,
                  service_account_email: str = PUSH_ACCOUNT) -> PushSubscription:
        """Register a push subscription (Pub/Sub's push config, which lives in GCP, not in Gmail)."""
        sub = PushSubscription(topic, endpoint, audience or endpoint, service_account_email)
        with self._lock:
            self.subscriptions.append(sub)
        return sub

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Push `data` to every subscription of `topic` (asynchronously, as Pub/Sub does)."""
        with self._lock:
            targets = [s for s in self.subscriptions if s.topic == topic]
        for sub in targets:
            with self._lock:
                if self.control.drop > 0:
                    self.control.drop -= 1
                    continue
                if self.control.hold:
                    self.control.held.append((sub, data))
                    continue
                copies = 2 if self.control.duplicate > 0 else 1
                self.control.duplicate = max(0, self.control.duplicate - 1)
            for _ in range(copies):
                threading.Thread(target=self._deliver, args=(sub, data), daemon=True).start()

    def release_held(self, reverse: bool = True) -> None:
        """Deliver held pushes, newest first by default (out of order)."""
        with self._lock:
            held, self.control.held, self.control.hold = self.control.held, [], False
        for sub, data in reversed(held) if reverse else held:
            self._deliver(sub, data)

    def token(self, audience: str, email: str = PUSH_ACCOUNT, lifetime: int = 3600) -> str:
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": audience, "email": email, "email_verified": True,
                  "sub": "1" + str(int(hashlib.sha256(email.lower().encode()).hexdigest(), 16))[:20], "iat": now,
                  "exp": now + lifetime}
        return jwt.encode(self._signer, claims).decode()

    def _deliver(self, sub: PushSubscription, data: dict[str, Any]) -> None:
        body = {"message": {"data": base64.b64encode(json.dumps(data).encode()).decode(),
                            "messageId": uuid.uuid4().hex, "publishTime": dt.datetime.now(dt.UTC).isoformat()},
                "subscription": sub.name}
        headers = {"Authorization": f"Bearer {self.token(sub.audience, sub.service_account_email)}"}
        try:
            status = httpx.post(sub.endpoint, json=body, headers=headers, timeout=10, verify=self.verify).status_code
        except httpx.HTTPError:
            status = 0          # Pub/Sub would retry with backoff; a lost push is what polling covers
        with self._lock:
            self.delivered.append((sub.endpoint, status))
        self.ctx.stats.record("pubsub", "push", units=0)

    async def _certs(self, request: Request) -> Response:
        return JSONResponse({self.kid: self._cert_pem})

    async def _subscribe(self, request: Request) -> Response:
        body = await request.json()
        sub = self.subscribe(body["topic"], body["push_endpoint"], body.get("audience"),
                             body.get("service_account_email", PUSH_ACCOUNT))
        return JSONResponse({"name": sub.name, "topic": sub.topic, "pushConfig": {"pushEndpoint": sub.endpoint}})


def _self_signed(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox google signing key")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
