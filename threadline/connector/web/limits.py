"""What one request, one connection or one client address may cost the HTTP server.

Most public routes cannot authenticate a request before reading it (a webhook's signature covers its body), so
the limits come first, in front of every route:

- `HttpLimits` (ASGI middleware) reads each request body itself, through the `receive` stream, before the route
  sees it: a `Content-Length` over the route's limit is answered 413 at once, unread; a chunked body is counted as
  it arrives and cut off with 413 as soon as it passes the limit; a body that does not arrive within
  `body_timeout` is answered 408. The route then gets the body from memory, already bounded. It also caps the
  requests each route handles at once (503 + Retry-After beyond), and answers 429 + Retry-After to an address
  whose requests were refused too often in the last minute (`FailureWindow`), before reading anything.
- `guarded_h11` (the uvicorn protocol) closes a connection whose request line and headers do not arrive within
  `header_timeout` (uvicorn has no such timeout: its keep-alive timer stops at the first byte), and keeps the
  number of open connections at `max_connections` by closing the connection idle the longest (waiting for headers
  or between requests) when a new one arrives, so a slow-loris or a thousand idle sockets cannot crowd out an
  honest sender. h11 itself refuses request lines and headers over `HEADER_BYTES` (400).

`/healthz` and `/readyz` are exempt from the per-route cap and the failure limit (a probe must keep answering),
not from the body limit or the timeouts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from threadline.config.models import ServerLimits

log = structlog.get_logger("threadline.http")

#: Request line plus headers, as h11 buffers them (its default): the largest thing a provider sends in headers is
#: a Pub/Sub OIDC JWT (about 1 KiB) or a Graph request URL; 16 KiB is what nginx allows by default too.
HEADER_BYTES = 16 * 1024
#: Statuses that count as a refused request against the client's address. 422 is not among them: /events answers
#: it only after the bearer token matched, to a client that is ours and has a bug to fix. 429 and 503 are our own
#: answers to load, not the client's fault.
FAILURE_STATUSES = frozenset({400, 401, 403, 404, 405, 408, 413})
PROBES = frozenset({"/healthz", "/readyz"})
#: Addresses remembered by the failure window; beyond it the one that failed least recently is forgotten, so a
#: flood from many addresses costs bounded memory (10,000 x at most `limit` floats).
MAX_ADDRESSES = 10_000


class FailureWindow:
    """Failures per key within a sliding `window` seconds; a key with `limit` of them is refused until the oldest
    ages out. The one failure limiter of the HTTP surface: per client address for every public route (HttpLimits),
    and process-wide (one key) for the admin login form (LoginThrottle). `limit` 0 never refuses."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_ADDRESSES) -> None:
        self.limit, self.window, self._clock, self._max_keys = limit, window, clock, max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        # The login form's handler may run in a worker thread; the middleware runs on the event loop.
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """0 when `key` may go on; else the seconds until its oldest failure leaves the window."""
        if self.limit <= 0:
            return 0.0
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return 0.0
            cutoff = self._clock() - self.window
            while failures and failures[0] <= cutoff:
                failures.popleft()
            if not failures:
                del self._failures[key]
                return 0.0
            return max(0.0, failures[0] - cutoff) if len(failures) >= self.limit else 0.0

    def allowed(self, key: str) -> bool:
        return self.retry_after(key) == 0.0

    def failed(self, key: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                # maxlen: a refused key is answered before it can fail again, so `limit` entries say everything.
                failures = self._failures[key] = deque(maxlen=self.limit)
                if len(self._failures) > self._max_keys:
                    self._failures.popitem(last=False)
            else:
                self._failures.move_to_end(key)
            failures.append(self._clock())


def client_key(scope: Scope) -> str | None:
    """The address failures are counted against: the TCP peer, or the client a trusted proxy named (uvicorn's
    proxy-headers middleware rewrites `client` only for `server.limits.trusted_proxies`). An IPv6 client counts as
    its /64, which one subscriber usually holds whole. None when there is no IP address (a unix socket, an
    in-process test client): nothing to count against."""
    client = scope.get("client")
    if not client:
        return None
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)


@dataclass(frozen=True)
class RouteLimit:
    """One route class: its name (for logs and in-flight counting) and its body limit in bytes."""

    name: str
    body_bytes: int
    probe: bool = False


class RouteTable:
    """Which limit a path gets. Paths not routed at all (404) get the small form limit: nothing is read for them
    beyond it."""

    def __init__(self, limits: ServerLimits) -> None:
        form = RouteLimit("form", limits.form_bytes)
        self.probe = RouteLimit("probe", limits.form_bytes, probe=True)
        self.form = form
        self.exact = {"/webhooks/hubspot": RouteLimit("hubspot", limits.hubspot_webhook_bytes),
                      "/push/gmail": RouteLimit("gmail", limits.gmail_push_bytes),
                      "/push/graph": RouteLimit("graph", limits.graph_push_bytes),
                      "/push/graph/lifecycle": RouteLimit("graph", limits.graph_push_bytes),
                      "/events": RouteLimit("events", limits.events_bytes)}
        self.unsubscribe = RouteLimit("unsubscribe", limits.form_bytes)

    def for_path(self, path: str) -> RouteLimit:
        if path in PROBES:
            return self.probe
        if path.startswith("/unsubscribe/"):
            return self.unsubscribe
        return self.exact.get(path, self.form)


class HttpLimits:
    """ASGI middleware: body limits and body timeout, per-route in-flight caps, and the per-address failure limit.
    See the module docstring. `clock` drives the failure window (tests pass a controllable one)."""

    def __init__(self, app: ASGIApp, limits: ServerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.routes = RouteTable(limits)
        self.in_flight_cap = limits.in_flight_per_route
        self.body_timeout = limits.body_timeout.total_seconds()
        self.failures = FailureWindow(limits.failures_per_minute, 60.0, clock)
        self._in_flight: dict[str, int] = {}
        self._throttled: set[str] = set()       # addresses whose block was logged (once per block)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.routes.for_path(scope["path"])
        address = None if route.probe else client_key(scope)
        if address is not None:
            wait = self.failures.retry_after(address)
            if wait:
                if address not in self._throttled:
                    self._throttled.add(address)
                    log.warning("http.client_throttled", client=address, retry_after=math.ceil(wait))
                await _refuse(send, 429, "too many refused requests from this address", retry_after=math.ceil(wait))
                return
            self._throttled.discard(address)
        if not route.probe and self._in_flight.get(route.name, 0) >= self.in_flight_cap:
            await _refuse(send, 503, "busy: retry shortly", retry_after=1)
            return
        self._in_flight[route.name] = self._in_flight.get(route.name, 0) + 1
        try:
            status = await self._serve(scope, receive, send, route)
        finally:
            self._in_flight[route.name] -= 1
        if address is not None and status in FAILURE_STATUSES:
            self.failures.failed(address)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, route: RouteLimit) -> int | None:
        """Read the body within its limits, then run the app on it; the response status (None: none was sent)."""
        try:
            declared = _content_length(scope)
        except ValueError:
            return await _refuse(send, 400, "Content-Length is not a number")
        if declared is not None and declared > route.body_bytes:
            log.warning("http.body_too_large", route=route.name, declared=declared, limit=route.body_bytes)
            return await _refuse(send, 413, f"body over {route.body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None                 # the client left: no one to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > route.body_bytes:
                        log.warning("http.body_too_large", route=route.name, read=size, limit=route.body_bytes)
                        return await _refuse(send, 413, f"body over {route.body_bytes} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            log.warning("http.body_timeout", route=route.name, read=size)
            return await _refuse(send, 408, "the body did not arrive in time")
        body = b"".join(chunks)
        chunks.clear()
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()          # after the body, only http.disconnect is left to hear

        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        return status


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value)
            if length < 0:
                raise ValueError("negative")
            return length
    return None


async def _refuse(send: Send, status: int, reason: str, retry_after: int | None = None) -> int:
    """A small JSON answer that closes the connection: the body may be unread, and an unread body must not be
    taken for the next request (nor drained: that is the cost the answer avoids)."""
    payload = json.dumps({"error": reason}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    return status


REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n"
                   b"connection: close\r\n\r\n")


def guarded_h11(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header deadline and a connection cap that evicts the longest-idle connection.
    Pass the class as `uvicorn.Config(http=...)`."""

    class GuardedH11Protocol(H11Protocol):
        """One connection. Idle = no request being handled: waiting for a request's headers, or between requests."""

        _header_timer: asyncio.TimerHandle | None = None
        _idle_since: float = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._idle_since = time.monotonic()
            self._arm_header_deadline()
            if len(self.connections) > max_connections:
                self._make_room()

        def data_received(self, data: bytes) -> None:
            # A new request's first bytes after a keep-alive pause: its headers get the full deadline from now.
            if self._header_timer is None and self.conn.their_state is h11.IDLE:
                self._arm_header_deadline()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm_header_deadline()

        def on_response_complete(self) -> None:
            self._idle_since = time.monotonic()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def idle(self) -> bool:
            return (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing()

        def _make_room(self) -> None:
            idle = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol) and c.idle()]
            if not idle:
                # Every other connection is mid-request (and each of those is bounded by the timeouts): refuse.
                log.warning("http.connections_full", open=len(self.connections))
                self.transport.close()
                return
            oldest = min(idle, key=lambda c: c._idle_since)
            oldest._close_idle()

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_timer = self.loop.call_later(header_timeout, self._header_deadline_passed)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline_passed(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._close_idle()

        def _close_idle(self) -> None:
            """408 to a client that started a request, nothing to one that sent nothing; then close."""
            if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE and self.conn.trailing_data[0]:
                self.transport.write(REQUEST_TIMEOUT)
            self._unset_keepalive_if_required()
            self.transport.close()

    return GuardedH11Protocol


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """The uvicorn.Config keywords that carry `server.limits`: the guarded protocol, the keep-alive timeout, the
    header size limit, and X-Forwarded-* from the trusted proxies only (uvicorn trusts 127.0.0.1 by default;
    here nobody unless configured)."""
    return {"http": guarded_h11(limits.header_timeout.total_seconds(), limits.max_connections),
            "timeout_keep_alive": max(1, math.ceil(limits.keep_alive.total_seconds())),
            "h11_max_incomplete_event_size": HEADER_BYTES,
            "proxy_headers": bool(limits.trusted_proxies),
            "forwarded_allow_ips": list(limits.trusted_proxies) or None,
            # The backlog holds connections the kernel accepted before we did; uvicorn's default 2048 is kept
            # explicit: past it the kernel drops SYNs, which clients retry.
            "backlog": 2048}
