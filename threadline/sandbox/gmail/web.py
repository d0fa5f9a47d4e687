"""Starlette endpoints that turn HTTP requests into gateway calls (lone, upload and batch)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.gmail.batch import run_batch
from threadline.sandbox.gmail.calls import ApiCall, ApiReply
from threadline.sandbox.gmail.errors import GoogleError
from threadline.sandbox.gmail.gateway import Gateway

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def reply_response(reply: ApiReply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def gmail_routes(gateway: Gateway) -> list[BaseRoute]:
    async def api(request: Request) -> Response:
        call = await _call(request, upload=False)
        with gateway.in_flight.track(call.headers.get("authorization", "")):
            if gateway.serve_delay:
                await asyncio.sleep(gateway.serve_delay)      # the event loop serves other callers meanwhile
            return reply_response(gateway.handle(call))

    async def upload(request: Request) -> Response:
        return reply_response(gateway.handle(await _call(request, upload=True)))

    async def batch(request: Request) -> Response:
        gateway.ctx.stats.record("gmail", "batch")
        content = await request.body()
        with gateway.in_flight.track(request.headers.get("authorization", "")):
            try:
                body, content_type = run_batch(gateway, request.headers.get("content-type", ""), content,
                                               request.headers.get("authorization"))
            except GoogleError as exc:
                return JSONResponse(exc.body(), status_code=exc.code)
        return Response(body, media_type=content_type)

    return [
        Route("/gmail/v1/{rest:path}", api, methods=METHODS),
        Route("/upload/gmail/v1/{rest:path}", upload, methods=["POST"]),
        Route("/batch/gmail/v1", batch, methods=["POST"]),
        # What googleapiclient's new_batch_http_request() computes from the discovery rootUrl.
        Route("/batch", batch, methods=["POST"]),
    ]


async def _call(request: Request, *, upload: bool) -> ApiCall:
    path = request.url.path.removeprefix("/upload") if upload else request.url.path
    headers = {name.lower(): value for name, value in request.headers.items()}
    return ApiCall(request.method, path, list(request.query_params.multi_items()), headers,
                   await request.body(), upload)
