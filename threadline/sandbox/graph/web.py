"""Starlette endpoints: every `/v1.0/...` request becomes a gateway call, run off the event loop.

Handlers run in the thread pool so that concurrent requests really overlap (the
per-mailbox concurrency limit can then be met, as in Exchange Online).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from threadline.sandbox.graph.batch import run_batch
from threadline.sandbox.graph.calls import ApiCall, ApiReply
from threadline.sandbox.graph.errors import GraphError
from threadline.sandbox.graph.gateway import Gateway

METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


def reply_response(reply: ApiReply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-type"}
    return Response(reply.content(), status_code=reply.status, headers=headers, media_type=reply.content_type)


def graph_routes(gateway: Gateway) -> list[BaseRoute]:
    async def api(request: Request) -> Response:
        call = await _call(request)
        if call.path == "/$batch" and call.method == "POST":
            gateway.ctx.stats.record("graph", "batch")
            try:
                return reply_response(await run_in_threadpool(run_batch, gateway, call))
            except GraphError as exc:
                return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
        return reply_response(await run_in_threadpool(gateway.handle, call))

    return [Route("/v1.0/{rest:path}", api, methods=METHODS)]


async def _call(request: Request) -> ApiCall:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return ApiCall(request.method, request.url.path.removeprefix("/v1.0"), dict(request.query_params.items()),
                   headers, await request.body(), str(request.base_url).rstrip("/"))
