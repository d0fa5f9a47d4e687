"""Assemble the simulated providers into one ASGI app served on one port under their real paths.

Generic faults (throttle, error, slow, drop, expired_token) are applied here, in
front of every provider, using the provider's own response shapes. Admin
endpoints under `/_sandbox/` arm faults, read request statistics, reset state
and seed owners, contacts and mail (seed_api.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from threadline.sandbox.base import SandboxContext, SandboxProvider
from threadline.sandbox.faults import Fault, malformed_answer
from threadline.sandbox.seed_api import seed_routes


class FaultMiddleware:
    """Pure ASGI middleware so that a 'drop' can cut a response half-way."""

    def __init__(self, app: ASGIApp, providers: list[SandboxProvider], ctx: SandboxContext,
                 latency_seconds: float = 0.0) -> None:
        self.app = app
        self.providers = providers
        self.ctx = ctx
        self.latency_seconds = latency_seconds

    def _provider_for(self, path: str) -> SandboxProvider | None:
        for provider in self.providers:
            if any(path.startswith(prefix) for prefix in provider.prefixes):
                return provider
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        provider = self._provider_for(path)
        if provider is not None and self.latency_seconds > 0:
            await asyncio.sleep(self.latency_seconds)   # a real service's round trip; the event loop serves others
        fault = self.ctx.faults.take(provider.name, method, path) if provider else None
        if fault is None or provider is None:
            await self.app(scope, receive, send)
            return
        self.ctx.stats.record(provider.name, f"fault:{fault.kind}", throttled=fault.kind == "throttle")
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
        elif fault.kind == "throttle":
            await provider.throttled_response(fault.delay or 1.0)(scope, receive, send)
        elif fault.kind == "error":
            await provider.error_response(fault.status, "injected fault")(scope, receive, send)
        elif fault.kind == "expired_token":
            await provider.unauthorized_response()(scope, receive, send)
        elif fault.kind == "malformed":
            await malformed_answer(fault, self.app)(scope, receive, send)
        elif fault.kind == "drop_after":
            async def swallow(message: Any) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    raise ConnectionAbortedError("sandbox fault: response lost after the provider acted")
            await self.app(scope, receive, swallow)
        elif fault.kind == "drop":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"partial": tru', "more_body": True})
            raise ConnectionAbortedError("sandbox fault: connection dropped mid-response")


def _admin_routes(ctx: SandboxContext, providers: list[SandboxProvider]) -> list[Route]:
    async def add_fault(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        ctx.faults.add(Fault(**body))
        return JSONResponse({"armed": ctx.faults.armed()})

    async def clear_faults(request: Request) -> Response:
        ctx.faults.clear()
        return JSONResponse({"armed": []})

    async def stats(request: Request) -> Response:
        return JSONResponse({**ctx.stats.snapshot(), "faults_fired": ctx.faults.fired})

    async def reset(request: Request) -> Response:
        ctx.faults.reset()      # fired counts too: tests read them as this test's own
        ctx.stats.reset()
        for provider in providers:
            getattr(provider, "reset", lambda: None)()
        return JSONResponse({"reset": True})

    return [
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        *seed_routes(providers),
    ]


def build_app(providers: list[SandboxProvider], ctx: SandboxContext, *, latency_seconds: float = 0.0) -> ASGIApp:
    """One Starlette app with every provider's routes, the admin routes and fault injection; every provider
    request is delayed by `latency_seconds` (SandboxSettings.request_latency_ms)."""
    routes: list[Any] = _admin_routes(ctx, providers)
    for provider in providers:
        routes.extend(provider.routes())
    app = Starlette(routes=routes)
    return FaultMiddleware(app, providers, ctx, latency_seconds)
