"""The Salesforce simulator: REST API under `/services/data/vXX.X/` (any version >= 50.0) and
`/services/oauth2/token`, with Salesforce's auth, daily request limit, error shapes and
query paging, plus Python helpers (seeding.py) to seed and inspect the org.

Thread-safe: uvicorn serves it from its thread while tests seed it from theirs; every
state change happens under `org.lock`. `settings` is this instance's own copy;
`reset()` restores the values it was built with. A default connected app
(`default_app`, with `settings.salesforce_consumer_key`) and API user exist after
every reset; its private key stays the same for the sandbox's lifetime.
"""

from __future__ import annotations

import dataclasses
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.salesforce import composite_api, meta_api, query_api, sobject_api
from threadline.sandbox.salesforce.calls import Call, RouteTable, check_version
from threadline.sandbox.salesforce.limits import DailyRequests
from threadline.sandbox.salesforce.oauth import ConnectedApp, OAuthServer, new_key_pair
from threadline.sandbox.salesforce.org import Org
from threadline.sandbox.salesforce.query_engine import QueryEngine
from threadline.sandbox.salesforce.responses import (
    STATUS_CODES,
    SfError,
    error_response,
    limit_exceeded,
    session_expired,
)
from threadline.sandbox.salesforce.seeding import AppCredentials, SeedingHelpers
from threadline.sandbox.settings import SandboxSettings

ALL_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]


def route_name(path: str) -> str:
    """A stable name for stats: `query`, `queryMore`, `sobjects/Contact`, `composite/sobjects`, ..."""
    parts = path.strip("/").split("/")
    if parts[0] in ("query", "queryAll"):
        return "queryMore" if len(parts) > 1 else parts[0]
    if parts[0] == "sobjects" and len(parts) > 1:
        action = parts[2] if len(parts) > 2 and parts[2] in ("describe", "updated", "deleted") else ""
        return f"sobjects/{parts[1]}" + (f"/{action}" if action else "")
    return "/".join(parts[:2])


class SalesforceSandbox(SeedingHelpers):
    """Simulated Salesforce org (SandboxProvider)."""

    name = "salesforce"
    prefixes = ("/services/data", "/services/oauth2/")

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext) -> None:
        self._base_settings = settings
        self.settings = dataclasses.replace(settings)
        self.ctx = ctx
        self.org = Org()
        self.engine = QueryEngine(self.org)
        self.limits = DailyRequests(self.settings)
        self.oauth = OAuthServer(self.settings, self._user_id)
        self.table = RouteTable()
        for module in (query_api, sobject_api, composite_api, meta_api):
            module.register(self.table)
        self._default_key, self._default_public = new_key_pair()
        self.reset()

    @property
    def default_app(self) -> AppCredentials:
        """The connected app registered at every reset (JWT and refresh-token flows)."""
        s = self.settings
        return AppCredentials(s.salesforce_consumer_key, s.salesforce_consumer_secret, s.salesforce_username,
                              self._default_key)

    def reset(self) -> None:
        """Empty the org, forget custom fields, sessions and usage; restore settings and the default app."""
        with self.org.lock:
            for f in dataclasses.fields(self._base_settings):
                setattr(self.settings, f.name, getattr(self._base_settings, f.name))
            self.org.reset()
            self.engine.reset()
            self.oauth.reset()
            self.limits = DailyRequests(self.settings)
            s = self.settings
            self.api_user_id = self.add_user(s.salesforce_username)
            self.oauth.register_app(ConnectedApp(s.salesforce_consumer_key, s.salesforce_consumer_secret,
                                                 self._default_public))
            self.oauth.issue_refresh_token(s.salesforce_consumer_key, s.salesforce_username,
                                           token=s.salesforce_refresh_token)

    # SandboxProvider -------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route("/services/data", self._versions, methods=["GET"]),
                Route("/services/data/", self._versions, methods=["GET"]),
                Route("/services/data/{version}/{rest:path}", self._api, methods=ALL_METHODS)]

    def error_response(self, status: int, message: str) -> Response:
        code = STATUS_CODES.get(status, "UNKNOWN_EXCEPTION")
        return error_response(status, code, message, self.limits.header())

    def throttled_response(self, retry_after: float) -> Response:
        # Salesforce has no 429 for REST calls: throttling is the daily allocation running out.
        return limit_exceeded(self.limits.header())

    def unauthorized_response(self) -> Response:
        return session_expired()

    # request pipeline --------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        self.ctx.stats.record(self.name, "POST oauth2/token")
        return await self.oauth.token(request)

    async def _versions(self, request: Request) -> Response:
        self.ctx.stats.record(self.name, "GET versions")
        return JSONResponse(meta_api.versions())

    async def _api(self, request: Request) -> Response:
        version, rest = request.path_params["version"], "/" + request.path_params["rest"]
        self.ctx.stats.record(self.name, f"{request.method} {route_name(rest)}")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.oauth.accepts(token.strip()):
            return session_expired()
        if not self.limits.spend():
            return limit_exceeded(self.limits.header())
        try:
            check_version(version)
            raw = await request.body()
            body = json.loads(raw) if raw else None
        except SfError as exc:
            return self._error(exc)
        except ValueError:
            return self._error(SfError(400, "JSON_PARSER_ERROR", "Unexpected character in the request body"))
        call = Call(self.org, self.engine, self.settings, request.method, version, rest,
                    dict(request.query_params), body, {k.lower(): v for k, v in request.headers.items()},
                    limits=self.limits.body)
        try:
            with self.org.lock:
                status, payload = self.table.dispatch(call)
        except SfError as exc:
            return self._error(exc)
        headers = self.limits.header()
        if payload is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(payload, status_code=status, headers=headers)

    def _error(self, exc: SfError) -> Response:
        return JSONResponse([exc.item()], status_code=exc.status, headers=self.limits.header())

    def _user_id(self, username: str) -> str | None:
        with self.org.lock:
            users = self.org.find_by("User", "Username", username)
        return users[0]["Id"] if users else None

    # for tests ---------------------------------------------------------------------

    @property
    def api_usage(self) -> tuple[int, int]:
        return self.limits.used, self.settings.salesforce_daily_api_limit

    def stats_for(self, route: str) -> int:
        return self.ctx.stats.snapshot()["by_route"].get(f"{self.name} {route}", 0)


__all__ = ["SalesforceSandbox"]
