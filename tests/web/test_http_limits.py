"""server.limits in front of every route (threadline/connector/web/limits.py), in process and through uvicorn.

The attacker's view against a real `threadline run` is tests/security/test_hostile_traffic.py; here each rule is
pinned down on its own: which limit each route gets, that a refused body is never handed to a route, the
per-address failure window on a controllable clock, the per-route in-flight cap, the body deadline, and that
X-Forwarded-For counts only from a trusted proxy.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from threadline.config.models import ServerLimits
from threadline.connector.web.admin_auth import LoginThrottle
from threadline.connector.web.limits import FailureWindow, HttpLimits, client_key, uvicorn_options

ATTACKER = ("203.0.113.9", 40000)
OTHER = ("198.51.100.20", 40000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Routes:
    """A stand-in app with the real paths: records which requests reached a route and with how many bytes."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, int]] = []

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        self.reached.append((request.url.path, len(body)))
        if request.headers.get("x-answer"):
            return JSONResponse({"error": "answer"}, status_code=int(request.headers["x-answer"]))
        return PlainTextResponse(str(len(body)))

    def app(self, limits: ServerLimits, clock: Clock | None = None) -> Starlette:
        paths = ["/webhooks/hubspot", "/push/gmail", "/push/graph", "/events", "/unsubscribe/{token}", "/login",
                 "/healthz"]
        options: dict[str, Any] = {"limits": limits} | ({"clock": clock} if clock else {})
        return Starlette(routes=[Route(p, self.echo, methods=["GET", "POST"]) for p in paths],
                         middleware=[Middleware(HttpLimits, **options)])


@pytest.mark.parametrize(("path", "limit"), [("/webhooks/hubspot", 1_048_576), ("/push/gmail", 65_536),
                                             ("/push/graph", 1_048_576), ("/events", 1_048_576),
                                             ("/unsubscribe/abc", 8192), ("/login", 8192), ("/nowhere", 8192)])
def test_each_route_takes_its_limit_and_not_a_byte_more(path: str, limit: int) -> None:
    routes = Routes()
    with TestClient(routes.app(ServerLimits()), client=ATTACKER) as client:
        assert client.post(path, content=b"x" * limit).status_code in (200, 404)
        over = client.post(path, content=b"x" * (limit + 1))
    assert over.status_code == 413 and over.headers["connection"] == "close"
    assert all(size <= limit for _, size in routes.reached)
    assert (path, limit + 1) not in routes.reached


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append({})
        return {"type": "http.request", "body": b"", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    routes = Routes()
    limits = HttpLimits(routes.app(ServerLimits()), ServerLimits())
    scope = {"type": "http", "method": "POST", "path": "/webhooks/hubspot", "headers": [
        (b"content-length", b"314572800")], "client": ATTACKER, "query_string": b""}
    asyncio.run(limits(scope, receive, send))       # type: ignore[arg-type]
    assert sent[0]["status"] == 413 and received == [] and routes.reached == []


def test_a_chunked_body_is_cut_off_once_past_the_limit() -> None:
    routes = Routes()
    limits = HttpLimits(routes.app(ServerLimits(gmail_push_bytes=65_536)), ServerLimits(gmail_push_bytes=65_536))
    pulled: list[int] = []
    sent: list[dict[str, Any]] = []

    async def endless() -> dict[str, Any]:          # a chunked body that never ends
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 16384, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/push/gmail", "headers": [(b"transfer-encoding", b"chunked")],
             "client": ATTACKER, "query_string": b""}
    asyncio.run(limits(scope, endless, send))       # type: ignore[arg-type]
    assert sent[0]["status"] == 413 and routes.reached == []
    assert len(pulled) == 5            # 4 x 16 KiB fill the limit; the fifth passes it and ends the reading


def test_repeated_refusals_from_one_address_get_429_until_the_minute_is_over() -> None:
    routes, clock = Routes(), Clock()
    app = routes.app(ServerLimits(failures_per_minute=30), clock)
    with TestClient(app, client=ATTACKER) as attacker, TestClient(app, client=OTHER) as other:
        statuses = [attacker.post("/webhooks/hubspot", headers={"x-answer": "401"}).status_code for _ in range(30)]
        assert statuses == [401] * 30
        refused = attacker.post("/webhooks/hubspot", content=b"[]")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        assert len(routes.reached) == 30            # the 429 reached no route
        assert other.post("/webhooks/hubspot", content=b"[]").status_code == 200    # the provider's own address
        assert attacker.get("/healthz").status_code == 200                          # probes are never refused
        clock.now += 45
        assert attacker.post("/events").headers["retry-after"] == "15"
        clock.now += 15
        assert attacker.post("/webhooks/hubspot", content=b"[]").status_code == 200


def test_only_refusals_count_and_zero_turns_the_window_off() -> None:
    routes, clock = Routes(), Clock()
    with TestClient(routes.app(ServerLimits(failures_per_minute=3), clock), client=ATTACKER) as client:
        for status in ("422", "429", "503", "200"):       # an authenticated client's mistake, or our own load
            for _ in range(5):
                client.post("/events", headers={"x-answer": status})
        assert client.post("/events").status_code == 200
        for status in ("404", "401", "413"):
            client.post("/events", headers={"x-answer": status})
        assert client.post("/events").status_code == 429
    with TestClient(routes.app(ServerLimits(failures_per_minute=0), clock), client=ATTACKER) as client:
        assert {client.post("/events", headers={"x-answer": "401"}).status_code for _ in range(50)} == {401}


def test_the_failure_window_forgets_the_least_recent_address_past_its_size() -> None:
    clock = Clock()
    window = FailureWindow(limit=1, clock=clock, max_keys=3)
    for address in ("a", "b", "c", "d"):
        window.failed(address)
    assert window.allowed("a") and not window.allowed("b") and not window.allowed("d")
    throttle = LoginThrottle(limit=2, clock=clock)        # the login form's limiter is the same window
    throttle.failed()
    throttle.failed()
    assert not throttle.allowed()
    clock.now += 60
    assert throttle.allowed()


def test_client_addresses_are_counted_per_ipv4_address_and_per_ipv6_64() -> None:
    assert client_key({"client": ("192.0.2.1", 1)}) == "192.0.2.1"
    assert client_key({"client": ("2001:db8:1:2:3:4:5:6", 1)}) == client_key({"client": ("2001:db8:1:2::9", 1)})
    assert client_key({"client": ("::ffff:192.0.2.1", 1)}) == "192.0.2.1"
    assert client_key({"client": ("testclient", 1)}) is None and client_key({"client": None}) is None


def test_requests_in_flight_per_route_are_capped_and_probes_are_not() -> None:
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/webhooks/hubspot", slow, methods=["POST"]), Route("/healthz", slow)],
                    middleware=[Middleware(HttpLimits, limits=ServerLimits(in_flight_per_route=2))])

    async def call(path: str) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope: dict[str, Any] = {"type": "http", "method": "POST" if "hook" in path else "GET", "path": path, "headers": [],
                 "client": ATTACKER, "query_string": b"", "root_path": "", "scheme": "http",
                 "server": ("127.0.0.1", 80)}
        await app(scope, receive, send)      # type: ignore[arg-type]
        start = next(m for m in sent if m["type"] == "http.response.start")
        if start["status"] == 503:
            assert (b"retry-after", b"1") in start["headers"]
        return int(start["status"])

    async def scenario() -> list[int]:
        held = [asyncio.create_task(call("/webhooks/hubspot")) for _ in range(2)]
        probes = [asyncio.create_task(call("/healthz")) for _ in range(5)]
        await asyncio.sleep(0)
        third = await call("/webhooks/hubspot")
        release.set()
        return [third, *await asyncio.gather(*held), *await asyncio.gather(*probes)]

    assert asyncio.run(scenario()) == [503, 200, 200, 200, 200, 200, 200, 200]


def test_a_body_that_stops_arriving_is_answered_408() -> None:
    routes = Routes()
    limits = HttpLimits(routes.app(ServerLimits()), ServerLimits())
    limits.body_timeout = 0.05          # the setting's floor is whole seconds; the mechanism is the same
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()    # a client that sent its headers and then nothing
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/events", "headers": [], "client": ATTACKER,
             "query_string": b""}
    asyncio.run(limits(scope, receive, send))       # type: ignore[arg-type]
    assert sent[0]["status"] == 408 and routes.reached == []


@contextmanager
def guarded_server(limits: ServerLimits) -> Iterator[int]:
    """The stand-in app served by uvicorn as the daemon serves it (uvicorn_options)."""
    app = Routes().app(limits)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                           **uvicorn_options(limits)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def _statuses(port: int, forwarded_for: str, count: int) -> list[int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    out = []
    for _ in range(count):
        conn.request("POST", "/webhooks/hubspot", body=b"[]", headers={"X-Forwarded-For": forwarded_for,
                                                                       "x-answer": "401"})
        answer = conn.getresponse()
        answer.read()
        out.append(answer.status)
    conn.close()
    return out


def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() -> None:
    with guarded_server(ServerLimits(failures_per_minute=5, trusted_proxies=["127.0.0.0/8"])) as port:
        assert _statuses(port, "192.0.2.1", 6) == [401] * 5 + [429]
        assert _statuses(port, "192.0.2.2", 1) == [401]     # another client behind the same proxy
    with guarded_server(ServerLimits(failures_per_minute=5)) as port:
        # Not trusted: the header is ignored, every request is the TCP peer's (a forged header cannot dodge it).
        assert _statuses(port, "192.0.2.1", 5) == [401] * 5
        assert _statuses(port, "192.0.2.2", 1) == [429]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ServerLimits(trusted_proxies=["proxy.example.com"])
