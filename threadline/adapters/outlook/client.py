"""Graph calls for one mailbox: limiter, concurrency cap, shared retry policy, and `$batch` MIME fetches."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from threadline.adapters.answers import decode_object
from threadline.adapters.errors import NotFound, ProviderError, RateLimited
from threadline.adapters.http import JsonApi
from threadline.adapters.outlook.auth import BearerAuth, TokenSource
from threadline.adapters.outlook.errors import PROVIDER, from_batch_item, translate
from threadline.adapters.ratelimit import Limiter
from threadline.adapters.retry import call_with_retry

MAX_BATCH = 20                                # Graph refuses larger JSON batches


class GraphClient:
    """Sends requests for one mailbox. At most `concurrency` in flight (Outlook allows 4 per mailbox).

    Every inner request of a batch spends one unit of the limiter, as Graph counts them.
    Raises only threadline ProviderErrors.
    """

    def __init__(self, http: httpx.Client, tokens: TokenSource, *, base_url: str, limiter: Limiter,
                 concurrency: int = 4, attempts: int = 6, account: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.attempts = attempts
        # The limiter goes with each request (JsonApi takes any Limiter there): a mailbox's and its app's.
        self.api = JsonApi(http, provider=PROVIDER, translate=translate, attempts=attempts, account=account)
        self._auth = BearerAuth(tokens)
        self._slots = threading.BoundedSemaphore(concurrency)
        self.batches = 0

    @property
    def calls(self) -> int:
        return self.api.calls

    def get(self, url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            attempts: int | None = None) -> dict[str, Any]:
        """GET a JSON resource (absolute URL or a path below the version root)."""
        with self._slots:
            api = self.api if attempts is None else JsonApi(self.api.client, provider=PROVIDER,
                                                            account=self.api.account,
                                                            translate=translate, attempts=attempts)
            response = api.request("GET", self._url(url), params=params, headers=headers, auth=self._auth,
                                   limiter=self.limiter)
        return decode_object(response, PROVIDER)

    def send_json(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST/PATCH a JSON body, or DELETE with none (subscriptions); returns the JSON answer ({} for none)."""
        with self._slots:
            response = self.api.request(method, self._url(url), json=body, auth=self._auth, limiter=self.limiter)
        return decode_object(response, PROVIDER)

    def fetch_mime(self, user: str, ids: Sequence[str], batch_size: int = MAX_BATCH) -> dict[str, bytes]:
        """RFC 822 bytes (`$value`) for message ids, through `$batch`es of `batch_size`: id -> bytes.

        Ids answering 404 (deleted meanwhile) are left out; throttled or failed parts are
        retried alone under the shared policy (honouring their Retry-After).
        """
        size = max(1, min(batch_size, MAX_BATCH))
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(ids))
        for begin in range(0, len(unique), size):
            found.update(self._batch_mime(user, unique[begin:begin + size]))
        return found

    def _batch_mime(self, user: str, ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        pending = list(ids)

        def once() -> dict[str, bytes]:
            nonlocal pending
            failures = self._batch_once(user, pending, found)
            pending = [i for i, error in failures.items() if not isinstance(error, NotFound)]
            errors = [failures[i] for i in pending]
            if errors:
                raise next((e for e in errors if isinstance(e, RateLimited)), errors[0])
            return found

        return call_with_retry(once, limiter=self.limiter, attempts=self.attempts, what="outlook $batch $value")

    def _batch_once(self, user: str, ids: list[str], found: dict[str, bytes]) -> dict[str, ProviderError]:
        if not ids:
            return {}
        requests = [{"id": str(n), "method": "GET", "url": f"/users/{quote(user)}/messages/{mid}/$value"}
                    for n, mid in enumerate(ids)]
        with self._slots:
            self.batches += 1
            response = self.api.request("POST", self._url("/$batch"), json={"requests": requests}, auth=self._auth,
                                        cost=len(ids), limiter=self.limiter)
        failures: dict[str, ProviderError] = {}
        for item in decode_object(response, PROVIDER).get("responses", []):
            message_id = ids[int(item["id"])]
            error = from_batch_item(item)
            if error is None:
                found[message_id] = base64.b64decode(item.get("body") or "")
            else:
                failures[message_id] = error
        return failures

    def _url(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.base_url}{url}"
