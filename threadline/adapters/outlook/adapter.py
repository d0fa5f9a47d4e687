"""The Outlook MailboxAdapter: MSAL tokens, httpx on Microsoft Graph, delta per folder, `$batch` for MIME."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from threadline.adapters.answers import read_by_shape, read_pages
from threadline.adapters.errors import ProviderError
from threadline.adapters.outlook.auth import TokenSource
from threadline.adapters.outlook.client import MAX_BATCH, GraphClient
from threadline.adapters.outlook.cursor import GraphCursor
from threadline.adapters.outlook.errors import PROVIDER
from threadline.adapters.outlook.sending import SENT_COPY_DELAY, GraphSending
from threadline.adapters.outlook.sync import GRAPH_FOLDERS, MailboxSync
from threadline.adapters.ratelimit import Limiter, RateLimiter, SharedLimit
from threadline.adapters.records import CheckResult, MailPage
from threadline.adapters.sending import OnSubmit, OutgoingEmail, SentRef

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
SUBSCRIPTION_MINUTES = 4_230     # Graph's maximum for Outlook messages (a little under three days)
REQUESTS_PER_WINDOW = 10_000                 # Outlook: per app per mailbox
WINDOW_SECONDS = 600.0
MAILBOX_CONCURRENCY = 4
# Graph's global limit, per app across all tenants ("Microsoft Graph service-specific throttling limits"); the
# Outlook service itself documents per-mailbox limits only, nothing per tenant.
APP_REQUESTS_PER_WINDOW = 130_000
APP_WINDOW_SECONDS = 10.0
LIMIT_HEADROOM = 0.95                        # our window and Exchange's are not aligned to the millisecond


def _last_endpoint(adapter: OutlookAdapter) -> str:
    return adapter.client.api.last_endpoint


#: Answers read by shape become MalformedResponse naming the Graph endpoint that answered last.
_answers = read_by_shape(PROVIDER, _last_endpoint)


class OutlookAdapter:
    """One rep's Microsoft 365 mailbox (Inbox and Sent Items), synced by delta links.

    `tokens` is `auth.ClientCredentials` (app-only) or `auth.Delegated` (signed-in user).
    `base_url` is the Graph root including the version (national clouds, the sandbox);
    `http` is the transport, injectable for tests and proxies (`close` closes it if `owns_http`, by
    default only if the adapter made it). `app_limiter` is the app's own limit across every mailbox
    (see `app_limiter`), spent from as well as this mailbox's. `sent_copy_delay` is how long a sent message may take to
    show in Sent Items (`sent_visibility`, for look-before-resend).
    """

    kind = "outlook"

    def __init__(self, address: str, tokens: TokenSource, *, base_url: str = GRAPH_BASE_URL,
                 http: httpx.Client | None = None, limiter: RateLimiter | None = None,
                 app_limiter: RateLimiter | None = None, requests_per_window: int = REQUESTS_PER_WINDOW, window_seconds: float = WINDOW_SECONDS,
                 concurrency: int = MAILBOX_CONCURRENCY, backfill_days: int = 30, page_size: int = 50,
                 batch_size: int = MAX_BATCH, attempts: int = 6, timeout: float = 60.0,
                 clock: Callable[[], float] = time.time, sent_copy_delay: timedelta = SENT_COPY_DELAY,
                 owns_http: bool | None = None) -> None:
        self.address = address
        self.tokens = tokens
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None if owns_http is None else owns_http
        own = limiter or RateLimiter(capacity=requests_per_window * LIMIT_HEADROOM, window=window_seconds,
                                     name=PROVIDER)
        self.limiter: Limiter = own if app_limiter is None else SharedLimit(own, app_limiter)
        self.client = GraphClient(self._http, tokens, base_url=base_url, limiter=self.limiter,
                                  concurrency=concurrency, attempts=attempts, account=address)
        self._sync = MailboxSync(self.client, address, page_size=page_size, backfill_days=backfill_days,
                                 batch_size=batch_size, clock=clock)
        self._sending = GraphSending(self.client, tokens, address, sent_copy_delay)

    @property
    def sent_visibility(self) -> timedelta:
        """How long a sent message may take to be found by `find_sent`."""
        return self._sending.sent_visibility

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Send as the mailbox owner (sendMail with our MIME). NOT idempotent: see `GraphSending.send`."""
        return self._sending.send(email, on_submit=on_submit)

    @_answers
    def find_sent(self, message_id: str) -> SentRef | None:
        """Our sent mail with `message_id` ("<...>") in Sent Items, or None."""
        return self._sending.find_sent(message_id)

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[MailPage]:
        """Yield new Inbox/Sent Items messages since `cursor` (None: backfill window, then delta links).

        An idle mailbox costs one delta call per folder. A 410 resyncs that folder (pages
        marked `resync_reason`). May raise RateLimited/TransientError after retries,
        AuthExpired, PermanentError, or CursorExpired if the state expires again mid-resync.
        """
        parsed = GraphCursor.model_validate(cursor) if cursor is not None else GraphCursor()
        return read_pages(self._sync.pull(parsed), PROVIDER, lambda: _last_endpoint(self))

    def check(self) -> list[CheckResult]:
        """Token acquisition, mailbox reachable, Inbox and Sent Items present. Never raises."""
        target = f"outlook {self.address}"
        try:
            self.tokens.token()
        except Exception as exc:  # noqa: BLE001 - check reports, never raises
            return [CheckResult(target=target, item="auth", ok=False, detail=_describe(exc))]
        results = [CheckResult(target=target, item="auth", ok=True, detail="token acquired")]
        for folder, name in GRAPH_FOLDERS.items():
            try:
                found = self.client.get(f"/users/{quote(self.address)}/mailFolders/{name}", attempts=2)
                results.append(CheckResult(target=target, item=f"folder {folder}", ok=True,
                                           detail=f"{found.get('displayName')}: {found.get('totalItemCount')} items"))
            except Exception as exc:  # noqa: BLE001
                results.append(CheckResult(target=target, item=f"folder {folder}", ok=False, detail=_describe(exc)))
        return results

    @_answers
    def label_names(self) -> set[str]:
        """The mailbox's master category list (needs MailboxSettings.Read): what `only_labelled`/`never_labelled`
        may name."""
        answer = self.client.get(f"/users/{quote(self.address)}/outlook/masterCategories", attempts=2)
        return {str(c.get("displayName")) for c in answer.get("value", []) if c.get("displayName")}

    @_answers
    def subscribe(self, notification_url: str, client_state: str, minutes: int = SUBSCRIPTION_MINUTES
                  ) -> list[tuple[str, datetime]]:
        """Change notifications for new mail in Inbox and Sent Items: [(subscription id, expiry)].

        Graph first POSTs `?validationToken=` to `notification_url` (and the lifecycle URL,
        `<notification_url>/lifecycle`), which must echo it; every notification carries
        `client_state`. Notifications only say *that* a folder changed: delta links stay the cursor.
        """
        made = []
        for name in GRAPH_FOLDERS.values():
            body = {"changeType": "created", "notificationUrl": notification_url,
                    "lifecycleNotificationUrl": f"{notification_url.rstrip('/')}/lifecycle",
                    "resource": f"users/{self.address}/mailFolders('{name}')/messages",
                    "expirationDateTime": _expiry(minutes), "clientState": client_state}
            answer = self.client.send_json("POST", "/subscriptions", body)
            made.append((str(answer["id"]), _parse_time(str(answer["expirationDateTime"]))))
        return made

    @_answers
    def renew(self, subscription_id: str, minutes: int = SUBSCRIPTION_MINUTES) -> datetime:
        """Extend a subscription before it expires (also the answer to `reauthorizationRequired`)."""
        answer = self.client.send_json("PATCH", f"/subscriptions/{subscription_id}",
                                       {"expirationDateTime": _expiry(minutes)})
        return _parse_time(str(answer.get("expirationDateTime", _expiry(minutes))))

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete a subscription (the mailbox was let go); 404 when Graph already dropped it."""
        self.client.send_json("DELETE", f"/subscriptions/{subscription_id}", None)

    def close(self) -> None:
        """Release the transport's connections (only if it owns them: it made them, or `owns_http`), and the
        token source's (a test's stand-in source may have nothing to close)."""
        if self._owns_http:
            self._http.close()
        close_tokens = getattr(self.tokens, "close", None)
        if close_tokens is not None:
            close_tokens()


def _expiry(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(text: str) -> datetime:
    # Graph writes seven fractional digits, more than fromisoformat takes: seconds are enough here.
    return datetime.fromisoformat(text.split(".")[0].removesuffix("Z")).replace(tzinfo=UTC)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.kind}: {str(exc)[:600]}"
    return type(exc).__name__


def app_limiter(requests_per_window: int = APP_REQUESTS_PER_WINDOW,
                window_seconds: float = APP_WINDOW_SECONDS) -> RateLimiter:
    """A limiter for one app registration's requests across every mailbox, to hand to each of its adapters."""
    return RateLimiter(capacity=requests_per_window * LIMIT_HEADROOM, window=window_seconds, name=PROVIDER)
