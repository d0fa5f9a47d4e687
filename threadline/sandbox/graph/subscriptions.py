"""Change-notification subscriptions: stored, validated by handshake, and delivered on demand.

On creation the simulator POSTs `notificationUrl?validationToken=...` and expects the
token echoed as text/plain with 200 within 10 s, as Graph does. Notifications and
lifecycle events are POSTed by `Subscriptions.notify` / `lifecycle` (the sandbox calls
`notify` on every delivery).
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from threadline.sandbox.graph.calls import ApiReply
from threadline.sandbox.graph.errors import GraphError, access_denied, bad_request
from threadline.sandbox.graph.invocation import Invocation
from threadline.sandbox.graph.render import iso

MAX_MAIL_MINUTES = 10080                      # mail subscriptions live at most 7 days
_RESOURCE = re.compile(r"^/?(?:users/(?P<user>[^/]+)|me)/(?:mailFolders(?:/|\(')(?P<folder>[^/')]+)'?\)?/)?"
                       r"messages$", re.IGNORECASE)
HANDSHAKE_TIMEOUT = 10.0


@dataclass
class Subscription:
    id: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    user_id: str
    folder: str | None                          # well-known folder name, None = every folder
    app_id: str
    tenant: str

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "applicationId": self.app_id,
                "changeType": self.change_type, "clientState": self.client_state,
                "notificationUrl": self.notification_url, "lifecycleNotificationUrl": self.lifecycle_url,
                "expirationDateTime": iso(self.expires), "creatorId": self.app_id,
                "includeResourceData": False, "latestSupportedTlsVersion": "v1_2",
                "notificationContentType": None, "notificationUrlAppId": None}


class Subscriptions:
    """Every subscription of the sandbox. Thread-safe."""

    def __init__(self) -> None:
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []   # every notification POSTed, for tests

    def clear(self) -> None:
        with self._lock:
            self._subs.clear()
            self.delivered.clear()

    def all(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs.values())

    def create(self, inv: Invocation) -> ApiReply:
        body = inv.call.json()
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                raise bad_request(f"Invalid request: '{name}' is required.", "InvalidRequest")
        user, folder = self._target(inv, str(body["resource"]))
        expires = _expiry(str(body["expirationDateTime"]))
        _handshake(str(body["notificationUrl"]))
        if body.get("lifecycleNotificationUrl"):
            _handshake(str(body["lifecycleNotificationUrl"]))
        sub = Subscription(str(uuid.uuid4()), str(body["resource"]), str(body["changeType"]),
                           str(body["notificationUrl"]), body.get("lifecycleNotificationUrl"),
                           body.get("clientState"), expires, user, folder, inv.grant.client_id, inv.grant.tenant)
        with self._lock:
            self._subs[sub.id] = sub
        return ApiReply(201, {"@odata.context": f"{inv.call.base_url}/v1.0/$metadata#subscriptions/$entity",
                              **sub.json()})

    def update(self, inv: Invocation) -> ApiReply:
        sub = self._own(inv)
        body = inv.call.json()
        if body.get("expirationDateTime"):
            sub.expires = _expiry(str(body["expirationDateTime"]))
        return ApiReply(200, sub.json())

    def get(self, inv: Invocation) -> ApiReply:
        return ApiReply(200, self._own(inv).json())

    def delete(self, inv: Invocation) -> ApiReply:
        sub = self._own(inv)
        with self._lock:
            self._subs.pop(sub.id, None)
        return ApiReply(204, None)

    def notify(self, user_id: str, folder: str, message_id: str, change_type: str = "created") -> int:
        """POST a change notification to every live subscription on this mailbox/folder; returns how many."""
        sent = 0
        for sub in self.all():
            if sub.user_id != user_id or (sub.folder not in (None, folder)) or change_type not in sub.change_type:
                continue
            if sub.expires <= datetime.now(UTC):
                continue
            resource = f"Users/{user_id}/Messages/{message_id}"
            item = {"subscriptionId": sub.id, "subscriptionExpirationDateTime": iso(sub.expires),
                    "changeType": change_type, "resource": resource, "clientState": sub.client_state,
                    "tenantId": sub.tenant, "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource,
                        "@odata.etag": f'W/"{secrets.token_urlsafe(12)}"', "id": message_id}}
            sent += self._post(sub.notification_url, {"value": [item]})
        return sent

    def lifecycle(self, subscription_id: str, event: str) -> int:
        """POST a lifecycle event (reauthorizationRequired, subscriptionRemoved, missed)."""
        with self._lock:
            sub = self._subs.get(subscription_id)
        if sub is None or not sub.lifecycle_url:
            return 0
        item = {"subscriptionId": sub.id, "subscriptionExpirationDateTime": iso(sub.expires),
                "tenantId": sub.tenant, "clientState": sub.client_state, "lifecycleEvent": event}
        return self._post(sub.lifecycle_url, {"value": [item]})

    def _post(self, url: str, payload: dict[str, Any]) -> int:
        self.delivered.append(payload)
        try:
            # The receiver may use the sandbox's own test CA: the simulator does not check it.
            httpx.post(url, json=payload, timeout=HANDSHAKE_TIMEOUT, verify=False)  # noqa: S501
        except httpx.HTTPError:
            return 0                           # Graph retries for a while, then drops; the poll catches up
        return 1

    def _target(self, inv: Invocation, resource: str) -> tuple[str, str | None]:
        found = _RESOURCE.match(resource)
        if not found:
            raise bad_request(f"Resource '{resource}' is not supported.", "ExtensionError")
        user = inv.services.resolve_user(found.group("user") or "me", inv.grant)
        folder = inv.services.mailbox_of(user).folder(found.group("folder")) if found.group("folder") else None
        if not inv.services.may(inv.grant, user, "Mail.Read"):
            raise access_denied()
        return user.id, folder

    def expire(self, subscription_id: str) -> None:
        """The subscription's expiry passes (nobody renewed it in time)."""
        with self._lock:
            sub = self._subs.get(subscription_id)
            if sub is not None:
                sub.expires = datetime.now(UTC) - timedelta(seconds=1)

    def _own(self, inv: Invocation) -> Subscription:
        with self._lock:
            sub = self._subs.get(inv.args["id"])
            if sub is not None and sub.expires <= datetime.now(UTC):
                # Graph deletes a subscription once it expires: renewing it afterwards answers 404.
                del self._subs[sub.id]
                sub = None
        if sub is None or sub.app_id != inv.grant.client_id:
            raise GraphError(404, "ResourceNotFound", f"The object '{inv.args['id']}' doesn't exist.")
        return sub


def _expiry(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("expirationDateTime is not a valid DateTimeOffset.", "InvalidRequest") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if at <= now or at > now + timedelta(minutes=MAX_MAIL_MINUTES):
        raise bad_request(f"Subscription expiration can only be {MAX_MAIL_MINUTES} minutes in the future.",
                          "ExtensionError")
    return at


def _handshake(url: str) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: " + str(uuid.uuid4())
    try:
        answer = httpx.post(url, params={"validationToken": token}, headers={"Content-Type": "text/plain"},
                            timeout=HANDSHAKE_TIMEOUT, verify=False)  # noqa: S501 - see _post
    except httpx.HTTPError:
        answer = None
    if answer is None or answer.status_code != 200 or answer.text != token:
        raise bad_request("Subscription validation request failed. Notification endpoint must respond with "
                          "200 OK to validation request.", "ValidationError")
