"""Gmail calls with the limiter, the shared retry policy and error translation, lone and batched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from googleapiclient.http import BatchHttpRequest, HttpRequest

from threadline.adapters.answers import json_object
from threadline.adapters.errors import NotFound, ProviderError, RateLimited, TransientError
from threadline.adapters.fencing import check_fence
from threadline.adapters.gmail.errors import PROVIDER, translate
from threadline.adapters.observe import observed
from threadline.adapters.ratelimit import Limiter, SharedLimit
from threadline.adapters.retry import call_with_retry

#: Quota units per call (Gmail "Usage limits"); the limiter is sized in these units.
COSTS = {"getProfile": 1, "labels.list": 1, "messages.list": 5, "messages.get": 5, "history.list": 2,
         "watch": 100, "stop": 50}
MAX_BATCH = 100                              # Gmail refuses larger batches


class GmailClient:
    """Executes requests built on a googleapiclient `Resource` for one mailbox.

    Every call acquires its quota units first, is retried under the shared policy
    on TransientError/RateLimited, and raises only threadline ProviderErrors.
    """

    def __init__(self, users: Any, http: Any, *, batch_uri: str, limiter: Limiter, attempts: int = 6,
                 account: str = "") -> None:
        """`users`: the service's `users` resource (shared by every mailbox, see gmail_service); `http`: this
        mailbox's authorised transport, which every request is sent with."""
        self.users = users
        self.http = http
        self.account = account            # the mailbox address: labels observed calls
        self.batch_uri = batch_uri
        self.limiter = limiter
        self.attempts = attempts
        self.calls = 0
        #: The Gmail method called last ("history.list"): names it in MalformedResponse.
        self.last_method = ""

    def execute(self, method: str, build: Callable[[Any], HttpRequest]) -> dict[str, Any]:
        """Run `build(users_resource)` (e.g. `lambda u: u.getProfile(userId="me")`) as one call."""
        def once() -> dict[str, Any]:
            self.limiter.acquire(COSTS[method])
            check_fence()      # last moment before the request leaves: the work must still be ours
            self.calls += 1
            self.last_method = method
            with observed(PROVIDER, self.account):
                try:
                    answer = build(self.users).execute(http=self.http)
                except Exception as exc:  # noqa: BLE001 - every failure is translated at this boundary
                    raise self._translated(exc, method) from exc
            return json_object(answer, PROVIDER, method)

        return call_with_retry(once, limiter=self.limiter, attempts=self.attempts, what=f"gmail {method}")

    def get_raw(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """messages.get(format=raw) for up to 100 ids in one batch: id -> Message.

        Ids that answer 404 (deleted meanwhile) are left out. Parts that fail
        transiently are retried, alone, under the shared policy.
        """
        if len(ids) > MAX_BATCH:
            raise ValueError(f"a Gmail batch holds at most {MAX_BATCH} calls")
        results: dict[str, dict[str, Any]] = {}
        pending = list(dict.fromkeys(ids))

        def once() -> dict[str, dict[str, Any]]:
            nonlocal pending
            failures = self._batch_once(pending, results)
            pending = [i for i, error in failures.items() if not isinstance(error, NotFound)]
            errors = [failures[i] for i in pending]
            if errors:
                raise next((e for e in errors if not isinstance(e, TransientError)), errors[0])
            return results

        return call_with_retry(once, limiter=self.limiter, attempts=self.attempts, what="gmail batch get")

    def _batch_once(self, ids: list[str], results: dict[str, dict[str, Any]]) -> dict[str, ProviderError]:
        if not ids:
            return {}
        self.limiter.acquire(COSTS["messages.get"] * len(ids))
        self.calls += 1
        self.last_method = "messages.get (batch)"
        failures: dict[str, ProviderError] = {}

        def collect(request_id: str, response: dict[str, Any], exception: Exception | None) -> None:
            if exception is None:
                results[request_id] = response
            else:
                failures[request_id] = self._translated(exception, "messages.get (batch)")

        batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
        messages = self.users.messages()
        for message_id in ids:
            batch.add(messages.get(userId="me", id=message_id, format="raw"), request_id=message_id)
        with observed(PROVIDER, self.account):
            try:
                batch.execute(http=self.http)
            except Exception as exc:  # noqa: BLE001 - translated at this boundary
                raise self._translated(exc, "messages.get (batch)") from exc
        return failures

    def _translated(self, exc: Exception, method: str) -> ProviderError:
        """`translate`, and a per-project throttle holds every mailbox of the project, not only this one."""
        error = translate(exc, method, self.batch_uri)
        if isinstance(error, RateLimited) and error.shared and isinstance(self.limiter, SharedLimit):
            self.limiter.pause_shared(error.retry_after or 1.0)
        return error
