"""Microsoft Graph change notifications: validation handshake, clientState check, lifecycle events.

Graph validates a new subscription by POSTing `?validationToken=...`, which must be echoed as
text/plain within 10 s. Every notification carries the subscription's `clientState`; one that
does not match is refused. Lifecycle events (`reauthorizationRequired`, `subscriptionRemoved`,
`missed`) arrive at the lifecycle URL.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from threadline.connector.web.secret_checks import KnownSecret

# Microsoft documents the token only as opaque, with no HTML or JavaScript in it, and sends about 120 characters
# ("Validation: Testing client application reachability for subscription Request-Id: <uuid>"); the cap
# leaves room for a format change while keeping this public endpoint from echoing arbitrary payloads.
MAX_VALIDATION_TOKEN = 1024


class NotificationRejected(Exception):
    """Not a notification for us; the reason is safe to log."""


@dataclass(frozen=True)
class GraphNotice:
    subscription_id: str
    lifecycle_event: str | None = None


def validation_echo(token: str) -> str:
    """The text to answer Graph's `?validationToken=` handshake with: the token itself, if not too long.

    Raises NotificationRejected when it is empty or longer than MAX_VALIDATION_TOKEN characters. The caller sends it as text/plain only.
    """
    if len(token) > MAX_VALIDATION_TOKEN:
        raise NotificationRejected(f"validationToken longer than {MAX_VALIDATION_TOKEN} characters")
    if not token:                    # Graph always sends one: an empty echo validates nothing
        raise NotificationRejected("validationToken is empty")
    return token


def read_notices(body: bytes, client_state: KnownSecret) -> list[GraphNotice]:
    """The notices in a delivery, each checked against our clientState (constant-time, length not revealed)."""
    try:
        items = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: '[' * 10_000 was a 500
        raise NotificationRejected("not a Graph notification body") from None
    # Checked before use: {"value": 5} or a list of strings crashed the endpoint (tests/reliability/test_fuzz_payloads.py).
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise NotificationRejected("value is not a list of notifications")
    if not items:   # Graph never posts an empty batch, and with no item there is no clientState to prove the sender
        raise NotificationRejected("no notifications in the body")
    notices = []
    for item in items:
        if not client_state.matches(str(item.get("clientState") or "")):
            raise NotificationRejected("clientState does not match")
        event = item.get("lifecycleEvent")
        notices.append(GraphNotice(str(item.get("subscriptionId", "")), event if isinstance(event, str) else None))
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

    def forget_mailbox(self, address: str) -> list[str]:
        """Forget every subscription of one mailbox; returns their ids (to delete them at Graph)."""
        with self._lock:
            ids = [subscription_id for subscription_id, owner in self._by_id.items() if owner == address]
            for subscription_id in ids:
                del self._by_id[subscription_id]
        return ids

    def mailboxes(self) -> set[str]:
        """The mailboxes that have at least one subscription."""
        with self._lock:
            return set(self._by_id.values())

    def mailbox_for(self, subscription_id: str) -> str | None:
        with self._lock:
            return self._by_id.get(subscription_id)

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._by_id.items())
