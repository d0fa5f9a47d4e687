"""The HubSpot simulator: CRM v3/v4 endpoints under their real paths, with HubSpot's auth,
rate limits, error shapes and search cap, plus Python helpers to seed and inspect it.

Thread-safe: uvicorn serves it from its thread while tests seed it from theirs;
every state change happens under `crm.lock`. `settings` is this instance's own
copy, so a test may shrink a limit (`sandbox.hubspot.settings.hubspot_search_result_cap = 500`)
and `reset()` restores the values it was built with.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.base import SandboxContext
from threadline.sandbox.hubspot import meta_routes, object_routes, pipelines
from threadline.sandbox.hubspot.crm import Crm
from threadline.sandbox.hubspot.limits import RequestLimits
from threadline.sandbox.hubspot.oauth import OAuthTokens
from threadline.sandbox.hubspot.records import HubObject
from threadline.sandbox.hubspot.responses import (
    ApiError,
    category_for,
    error_response,
    throttled,
    unauthorized,
)
from threadline.sandbox.hubspot.seeding import SeedingHelpers
from threadline.sandbox.settings import SandboxSettings

Handler = Callable[[Crm, Request, Any], tuple[int, Any]]


class HubSpotSandbox(SeedingHelpers):
    """Simulated HubSpot portal (SandboxProvider)."""

    name = "hubspot"
    prefixes = ("/crm/", "/oauth/v1/")

    def __init__(self, settings: SandboxSettings, ctx: SandboxContext) -> None:
        self._base_settings = settings
        self.settings = dataclasses.replace(settings)
        self.ctx = ctx
        self.crm = Crm(self.settings)
        self.limits = RequestLimits(self.settings)
        self.oauth = OAuthTokens(self.settings)

    def reset(self) -> None:
        """Empty every object, property, owner and issued token; restore the original settings."""
        with self.crm.lock:
            for f in dataclasses.fields(self._base_settings):
                setattr(self.settings, f.name, getattr(self._base_settings, f.name))
            self.crm.reset()
            self.limits = RequestLimits(self.settings)
            self.oauth.reset()

    # SandboxProvider -------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/oauth/v1/token", self._token, methods=["POST"])]
        for method, path, handler, name in object_routes.ROUTES + meta_routes.ROUTES + pipelines.ROUTES:
            routes.append(Route(path, self._endpoint(handler, name, search=name == "search"), methods=[method]))
        return routes

    def error_response(self, status: int, message: str) -> Response:
        return error_response(status, category_for(status), message)

    def throttled_response(self, retry_after: float) -> Response:
        # HubSpot sends no Retry-After; the injected wait rides in the interval header clients read.
        headers = {**self.limits.headers(0, 0),
                   "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(retry_after * 1000))}
        return throttled("TEN_SECONDLY_ROLLING", headers)

    def unauthorized_response(self) -> Response:
        return unauthorized()

    # request pipeline --------------------------------------------------------

    def _endpoint(self, handler: Handler, name: str, *, search: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            route = f"{request.method} {name}"
            token = request.headers.get("authorization", "")
            token = token[7:] if token.lower().startswith("bearer ") else ""
            if not self._accepts(token):
                self.ctx.stats.record(self.name, route)
                return unauthorized()
            verdict = self.limits.check(token, search=search)
            self.ctx.stats.record(self.name, route, throttled=not verdict.allowed)
            if not verdict.allowed:
                return throttled(verdict.policy or "TEN_SECONDLY_ROLLING", verdict.headers)
            response = await self._run(handler, request)
            response.headers.update(verdict.headers)
            return response
        return endpoint

    async def _run(self, handler: Handler, request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw else None
        except ValueError:
            return error_response(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        try:
            with self.crm.lock:
                status, payload = handler(self.crm, request, body)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return error_response(400, "VALIDATION_ERROR", f"Invalid request: {exc}")
        if payload is None:
            return Response(status_code=status)
        return JSONResponse(payload, status_code=status)

    def _accepts(self, token: str) -> bool:
        return bool(token) and (token == self.settings.hubspot_token or self.oauth.accepts(token))

    async def _token(self, request: Request) -> Response:
        self.ctx.stats.record(self.name, "POST oauth/token")
        return await self.oauth.token(request)

    # convenience re-exports for tests ------------------------------------------

    def object(self, object_type: str, object_id: str | int) -> HubObject:
        """The stored object (a merged-away contact id resolves to its winner). Raises KeyError if missing."""
        with self.crm.lock:
            try:
                return self.crm.resolve(object_type, str(object_id))
            except ApiError as exc:
                raise KeyError(f"{object_type} {object_id}") from exc

    def objects(self, object_type: str) -> Sequence[HubObject]:
        with self.crm.lock:
            return list(self.crm.table(object_type).live_objects())
