"""Calls to one Salesforce org: session handling, versioned URLs, the limit header, query paging.

Every request goes through JsonApi (limiter, shared retry policy, translate.py).
An INVALID_SESSION_ID answer refreshes the session once and repeats the call;
a second one is AuthExpired. `api_usage` is the last `Sforce-Limit-Info` seen; `daily_budget`
follows the same header (daily_budget.py), with GET /limits as its probe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from threadline.adapters.answers import decode_json, json_object, require
from threadline.adapters.daily_budget import BudgetMeter, rolling_reset
from threadline.adapters.errors import AuthExpired
from threadline.adapters.http import JsonApi
from threadline.adapters.ratelimit import RateLimiter
from threadline.adapters.salesforce.auth import Grant, Session, SessionSource
from threadline.adapters.salesforce.translate import (
    PROVIDER,
    daily_allocation,
    is_daily_refusal,
    parse_limit_info,
    translate,
    translate_token,
)
from threadline.adapters.token_store import TokenStore


class SalesforceApi:
    """REST calls under `{instance_url}/services/data/{version}`; paths starting `/services/` are taken as is."""

    def __init__(self, client: httpx.Client, grant: Grant, *, version: str = "v61.0",
                 limiter: RateLimiter | None = None, attempts: int = 6, tokens: TokenStore | None = None,
                 daily_budget: BudgetMeter | None = None) -> None:
        self.version = version
        self.api_usage: tuple[int, int] | None = None
        self.daily_budget = daily_budget or BudgetMeter(PROVIDER, daily_allocation, rolling_reset, is_daily_refusal)
        #: "METHOD path" of the last call made (no host, no query): names it in MalformedResponse.
        self.last_endpoint = ""
        self.api = JsonApi(client, provider=PROVIDER, limiter=limiter, translate=translate, attempts=attempts,
                           on_response=self._note_usage, budget=self.daily_budget)
        self.probe = JsonApi(client, provider=PROVIDER, limiter=limiter, translate=translate, attempts=1,
                             on_response=self._note_usage, budget=self.daily_budget)
        self.daily_budget.probe = lambda: self.request("GET", "/limits", probe=True)
        token_api = JsonApi(client, provider=PROVIDER, translate=translate_token, attempts=attempts)
        self.sessions = SessionSource(token_api, grant, tokens)

    @property
    def calls(self) -> int:
        return self.api.calls + self.probe.calls

    def request(self, method: str, path: str, *, idempotent: bool = True, probe: bool = False,
                **kwargs: Any) -> httpx.Response:
        """One call with a valid session (refreshed once on INVALID_SESSION_ID). Raises ProviderError."""
        api = self.probe if probe else self.api
        self.last_endpoint = f"{method} {path.split('?')[0]}"
        extra = kwargs.pop("headers", None) or {}
        session = self.sessions.current()
        try:
            return api.request(method, self._url(session, path), idempotent=idempotent,
                               headers={**extra, **self._auth(session)}, **kwargs)
        except AuthExpired as exc:
            if exc.status != 401:
                raise
        # An expired session refused the call before it had any effect, so repeating it is safe.
        session = self.sessions.refresh(session)
        return api.request(method, self._url(session, path), idempotent=idempotent,
                           headers={**extra, **self._auth(session)}, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call's decoded JSON answer (None for an empty body); MalformedResponse if it is not JSON."""
        return decode_json(self.request(method, path, **kwargs), PROVIDER)

    def query_pages(self, soql: str, *, include_deleted: bool = False,
                    batch_size: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of records for `soql` (`queryAll` if include_deleted), following nextRecordsUrl until done."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        path = "/queryAll" if include_deleted else "/query"
        body = self._page(self.json("GET", path, params={"q": soql}, headers=headers), path)
        yield body["records"]
        while not body["done"] and body.get("nextRecordsUrl"):
            path = str(body["nextRecordsUrl"])
            body = self._page(self.json("GET", path, headers=headers), path)
            yield body["records"]

    @staticmethod
    def _page(body: Any, path: str) -> dict[str, Any]:
        """A query page always says whether it is the last: `{}` must not read as "no records, done"."""
        endpoint = f"GET {path.split('?')[0]}"
        return require(json_object(body, PROVIDER, endpoint), PROVIDER, endpoint, records=list, done=bool)

    def close(self) -> None:
        """Close the httpx client (API, probe and token calls share it)."""
        self.api.client.close()

    def _url(self, session: Session, path: str) -> str:
        if path.startswith("/services/"):
            return session.instance_url + path
        return f"{session.instance_url}/services/data/{self.version}{path}"

    @staticmethod
    def _auth(session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    def _note_usage(self, response: httpx.Response) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.api_usage = usage
