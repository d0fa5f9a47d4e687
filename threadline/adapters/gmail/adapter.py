"""The Gmail MailboxAdapter: official client, static discovery, one limiter in quota units."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc

from threadline.adapters.answers import read_by_shape, read_pages
from threadline.adapters.errors import ProviderError
from threadline.adapters.gmail.client import GmailClient
from threadline.adapters.gmail.cursor import GmailCursor
from threadline.adapters.gmail.errors import PROVIDER
from threadline.adapters.gmail.sending import SENT_COPY_DELAY, GmailSending
from threadline.adapters.gmail.sync import MailboxSync
from threadline.adapters.ratelimit import Limiter, RateLimiter, SharedLimit
from threadline.adapters.records import CheckResult, MailPage
from threadline.adapters.sending import OnSubmit, OutgoingEmail, SentRef

GMAIL_BASE_URL = "https://gmail.googleapis.com"
USER_UNITS_PER_MINUTE = 15_000              # Gmail per-user quota
PROJECT_UNITS_PER_MINUTE = 1_200_000        # Gmail per-project quota: every mailbox of one Cloud project
QUOTA_HEADROOM = 0.95                       # our window and Google's are not aligned to the millisecond


def _last_method(adapter: GmailAdapter) -> str:
    return adapter.client.last_method


#: Answers read by shape become MalformedResponse naming the Gmail method that answered last.
_answers = read_by_shape(PROVIDER, _last_method)


@functools.lru_cache(maxsize=1)
def gmail_discovery() -> dict[str, Any]:
    """Gmail's discovery document as the client library ships it (static discovery), parsed once per process:
    parsing it for each of a team's thousands of mailboxes was most of what building an adapter cost."""
    text = get_static_doc("gmail", "v1")
    if text is None:                                    # pragma: no cover - the library always ships it
        raise RuntimeError("google-api-python-client ships no static discovery document for gmail v1")
    return dict(json.loads(text))


@functools.lru_cache(maxsize=8)
def gmail_service(base_url: str) -> Any:
    """One googleapiclient service per API root, shared by every mailbox of the process: building it (and its
    `users` resource) makes a function with a docstring for every method, about 140 KB per mailbox, which a
    team of 2,000 would hold 2,000 times. Requests carry their mailbox's own authorised transport instead
    (`execute(http=...)`), so the service's own transport is never used to send anything."""
    service = build_from_document(gmail_discovery(), http=httplib2.Http(), client_options={"api_endpoint": base_url})
    return service, service.users()


class GmailAdapter:
    """One rep's Gmail mailbox (INBOX and SENT), synced by history id.

    `credentials` come from `credentials.from_service_account` or `from_refresh_token`;
    `http` (an `httplib2.Http`) is the transport, injectable for tests and proxies.
    `base_url` points the client at the sandbox. `project_limiter` is the per-project quota's limiter,
    shared by every mailbox of the same Google Cloud project (see `project_limiter`); each call spends
    from it as well as from this mailbox's per-user one. `sent_copy_delay` is how long a sent message
    may take to show in SENT (`sent_visibility`, for the sender's look-before-resend). `label_changes`: the
    incremental pull also hands over again messages whose labels changed (set when opt-in/opt-out labels are
    configured; it costs a messages.get per relabelled message). The batch URI is built from it
    because googleapiclient's `new_batch_http_request()` ignores `api_endpoint`
    (googleapis/google-api-python-client#1107).
    """

    kind = "gmail"

    def __init__(self, address: str, credentials: Credentials, *, base_url: str = GMAIL_BASE_URL,
                 http: httplib2.Http | None = None, limiter: RateLimiter | None = None,
                 project_limiter: RateLimiter | None = None, units_per_minute: int = USER_UNITS_PER_MINUTE, backfill_days: int = 30, batch_size: int = 50,
                 attempts: int = 6, timeout: float = 60.0, clock: Callable[[], float] = time.time,
                 sent_copy_delay: timedelta = SENT_COPY_DELAY, label_changes: bool = False) -> None:
        self.address = address
        base_url = base_url.rstrip("/")
        self._http = google_auth_httplib2.AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=timeout))
        _, self._users = gmail_service(base_url)
        own = limiter or RateLimiter(capacity=units_per_minute * QUOTA_HEADROOM, window=60.0, name=PROVIDER)
        self.limiter: Limiter = own if project_limiter is None else SharedLimit(own, project_limiter)
        self._batch_uri = f"{base_url}/batch/gmail/v1"
        self.client = GmailClient(self._users, self._http, batch_uri=self._batch_uri, limiter=self.limiter,
                                  attempts=attempts, account=address)
        self._sync = MailboxSync(self.client, backfill_days=backfill_days, batch_size=min(batch_size, 100),
                                 clock=clock, label_changes=label_changes)
        self._sending = GmailSending(self.client, sent_copy_delay)

    @property
    def sent_visibility(self) -> timedelta:
        """How long a sent message may take to be found by `find_sent`."""
        return self._sending.sent_visibility

    @_answers
    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        """Send as the mailbox owner (users.messages.send). NOT idempotent: see `GmailSending.send`."""
        return self._sending.send(email, on_submit=on_submit)

    @_answers
    def find_sent(self, message_id: str) -> SentRef | None:
        """Our sent mail with `message_id` ("<...>"), or None (messages.list q=rfc822msgid:, label SENT)."""
        return self._sending.find_sent(message_id)

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[MailPage]:
        """Yield new INBOX/SENT messages since `cursor` (None: capture history id, backfill, catch up).

        An idle mailbox costs one history.list call. An expired history id resyncs
        (pages marked `resync_reason`). May raise RateLimited/TransientError after
        retries, AuthExpired, PermanentError, or CursorExpired if it expires again mid-resync.
        """
        parsed = GmailCursor.model_validate(cursor) if cursor is not None else None
        return read_pages(self._sync.pull(parsed), PROVIDER, lambda: self.client.last_method)

    def check(self) -> list[CheckResult]:
        """getProfile (reach, auth, right mailbox) and labels.list (scope). Never raises."""
        target = f"gmail {self.address}"
        quick = GmailClient(self._users, self._http, batch_uri=self._batch_uri, limiter=self.limiter, attempts=2,
                            account=self.address)
        try:
            profile = quick.execute("getProfile", lambda u: u.getProfile(userId="me"))
        except Exception as exc:  # noqa: BLE001 - check reports, never raises
            return [CheckResult(target=target, item="reach", ok=False, detail=_describe(exc))]
        results = [CheckResult(target=target, item="reach", ok=True, detail=f"historyId {profile.get('historyId')}")]
        same = str(profile.get("emailAddress", "")).lower() == self.address.lower()
        results.append(CheckResult(target=target, item="mailbox", ok=same,
                                   detail=f"signed in as {profile.get('emailAddress')}"))
        try:
            labels = quick.execute("labels.list", lambda u: u.labels().list(userId="me"))
            names = {label.get("id") for label in labels.get("labels", [])}
            ok = {"INBOX", "SENT"} <= names
            results.append(CheckResult(target=target, item="scopes", ok=ok,
                                       detail="INBOX and SENT readable" if ok else "INBOX/SENT labels missing"))
        except Exception as exc:  # noqa: BLE001
            results.append(CheckResult(target=target, item="scopes", ok=False, detail=_describe(exc)))
        return results

    @_answers
    def label_names(self) -> set[str]:
        """The mailbox's label names (users.labels.list): what `only_labelled`/`never_labelled` may name."""
        answer = self.client.execute("labels.list", lambda u: u.labels().list(userId="me"))
        return {str(label.get("name")) for label in answer.get("labels", []) if label.get("name")}

    @_answers
    def watch(self, topic: str) -> datetime:
        """users.watch on INBOX and SENT, publishing to the Pub/Sub `topic`; returns when it expires.

        Gmail watches last 7 days; renew daily. Notifications only say *that* the mailbox
        changed: the stored history id stays the cursor.
        """
        body = {"topicName": topic, "labelIds": ["INBOX", "SENT"], "labelFilterBehavior": "INCLUDE"}
        answer = self.client.execute("watch", lambda u: u.watch(userId="me", body=body))
        return datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)

    def close(self) -> None:
        """Release the transport's connections."""
        self._http.close()


def project_limiter(units_per_minute: int = PROJECT_UNITS_PER_MINUTE) -> RateLimiter:
    """A limiter for one Google Cloud project's quota, to hand to every GmailAdapter of that project."""
    return RateLimiter(capacity=units_per_minute * QUOTA_HEADROOM, window=60.0, name=PROVIDER)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.kind}: {str(exc)[:600]}"
    return type(exc).__name__
