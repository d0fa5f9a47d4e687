"""A provider-agnostic hook on every call an adapter makes: who called, and how it ended.

Each adapter wraps the one place a request leaves it (one attempt, inside the retry
loop) in `observed(provider, account)`. Observers (the connector's metrics) subscribe
with `watch`; adapters know nothing about what observers do with the news. Observers
are held weakly, so an app that goes away stops observing without an unsubscribe.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from threadline.adapters.errors import ProviderError, RateLimited


@dataclass(frozen=True)
class CallOutcome:
    """One finished provider call. `error` is the ProviderError kind ("RateLimited", ...) or None."""

    provider: str            # "gmail", "hubspot", "imap", ...
    account: str             # the mailbox address; "" for the CRM account
    operation: str           # "call", or "send" for an email submission
    error: str | None = None
    throttled: bool = False


class CallObserver(Protocol):
    def call_finished(self, outcome: CallOutcome) -> None:
        """Called on the adapter's thread after every call; must be quick and must not raise."""


_observers: weakref.WeakSet[CallObserver] = weakref.WeakSet()
_lock = threading.Lock()


def watch(observer: CallObserver) -> None:
    """Tell `observer` about every call from now on (until it is garbage-collected or `unwatch`ed)."""
    with _lock:
        _observers.add(observer)


def unwatch(observer: CallObserver) -> None:
    with _lock:
        _observers.discard(observer)


def report(outcome: CallOutcome) -> None:
    """Hand `outcome` to every observer. An observer's failure never reaches the adapter."""
    with _lock:
        current = list(_observers)
    for observer in current:
        try:
            observer.call_finished(outcome)
        except Exception:  # noqa: BLE001, S110 - observing must never break a provider call
            pass


@contextmanager
def observed(provider: str, account: str = "", operation: str = "call") -> Iterator[None]:
    """Report the call made inside the block: ok, or the ProviderError (or other exception) it raised."""
    try:
        yield
    except ProviderError as exc:
        report(CallOutcome(provider, account, operation, exc.kind, isinstance(exc, RateLimited)))
        raise
    except Exception as exc:
        report(CallOutcome(provider, account, operation, type(exc).__name__))
        raise
    report(CallOutcome(provider, account, operation))
