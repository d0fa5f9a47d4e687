"""Microsoft Graph change notifications: validation handshake, clientState check, lifecycle events.

Graph validates a new subscription by POSTing `?validationToken=...`, which must be echoed as
text/plain within 10 s. Every notification carries the subscription's `clientState`; one that
does not match is refused. Lifecycle events (`reauthorizationRequired`, `subscriptionRemoved`,
`missed`) arrive at the lifecycle URL.
"""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass


class NotificationRejected(Exception):
    """Not a notification for us; the reason is safe to log."""


@dataclass(frozen=True)
class GraphNotice:
    subscription_id: str
    lifecycle_event: str | None = None


def read_notices(body: bytes, client_state: str) -> list[GraphNotice]:
    """The notices in a delivery, each checked against our clientState (constant-time)."""
    try:
        items = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError):
        raise NotificationRejected("not a Graph notification body") from None
    notices = []
    for item in items:
        if not hmac.compare_digest(str(item.get("clientState") or ""), client_state):
            raise NotificationRejected("clientState does not match")
        notices.append(GraphNotice(str(item.get("subscriptionId", "")), item.get("lifecycleEvent")))
    return notices


class GraphSubscriptions:
    """Which mailbox each live subscription belongs to (shared by the daemon and its endpoint)."""

    def __init__(self) -> None:
        self._by_id: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, subscription_id: str, address: str) -> None:
        with self._lock:
            self._by_id[subscription_id] = address

    def forget(self, subscription_id: str) -> None:
        with self._lock:
            self._by_id.pop(subscription_id, None)

    def mailbox_for(self, subscription_id: str) -> str | None:
        with self._lock:
            return self._by_id.get(subscription_id)

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._by_id.items())
