"""The daemon's HTTP endpoints: health, readiness, push, webhooks, event intake, and the admin pages.

Every push endpoint verifies the provider's signature before it does anything, then only
wakes a source: the pull that follows reads from the stored cursor, so a forged,
lost, repeated or reordered notification cannot make Threadline log anything.

Public without a token: /healthz, /readyz, and the endpoints that carry their own proof
(signed pushes and webhooks, signed unsubscribe links, /events with its bearer token, single-use connect
and disconnect links and the OAuth callback that checks their state).
Everything else (/metrics, /status, /api/status) needs `server.admin_token` and is not
routed at all (404) when none is configured.

In front of every route, `limits.HttpLimits` bounds the body before a route reads it (413 / 408), caps the
requests each route handles at once (503), and answers 429 to an address refused too often (`server.limits`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from threadline.config.models import Settings
from threadline.connector.web.admin_routes import admin_routes, readyz_endpoint
from threadline.connector.web.connect_pages import ConnectPages
from threadline.connector.web.event_intake import events_endpoint
from threadline.connector.web.limits import HttpLimits
from threadline.connector.web.push.gmail_pubsub import PubSubAuth, PushRejected, changed_mailbox, verify_push
from threadline.connector.web.push.graph_notifications import (
    GraphSubscriptions,
    NotificationRejected,
    read_notices,
    validation_echo,
)
from threadline.connector.web.push.hubspot_webhooks import ReplayGuard, WebhookRejected, verify_v3
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.web.secret_checks import KnownSecret
from threadline.connector.web.unsubscribe import unsubscribe_endpoint
from threadline.connector.wiring.consent import consent_flows
from threadline.connector.wiring.secret_keys import SecretsUnusable, no_key_message, secret_store
from threadline.sync.engine import CRM_SOURCE, mailbox_source
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.store.database import Store

log = structlog.get_logger("threadline.push")


@dataclass
class GraphHooks:
    """What the Graph endpoint needs from the daemon: the subscription map and a lifecycle handler."""

    subscriptions: GraphSubscriptions
    on_lifecycle: Callable[[str, str], None]


def build_web_app(settings: Settings, wakeups: Wakeups, graph: GraphHooks | None = None,
                  store: Store | None = None, policy: AddressPolicy | None = None,
                  custom_events: frozenset[str] | None = None, started_at: datetime | None = None,
                  known_mailboxes: Callable[[], Collection[str]] | None = None) -> Starlette:
    """The HTTP app for one configuration. `started_at` (default: now) starts every source's readiness grace.
    `known_mailboxes` answers, at each Gmail push, which mailboxes a push may wake (the daemon: every mailbox
    its engine syncs now, found and connected ones included); by default the configured `mailboxes:`."""
    configured = frozenset(box.address for box in settings.mailboxes)
    known = known_mailboxes or (lambda: configured)
    started = started_at or datetime.now(UTC)
    routes = [Route("/healthz", _healthz, methods=["GET"]),
              Route("/readyz", readyz_endpoint(settings, store, started), methods=["GET"])]
    if settings.server.admin_token is not None and store is not None:
        routes += admin_routes(settings, store, started)
    if settings.server.events_token is not None and store is not None:
        declared = custom_events if custom_events is not None else settings.rules.declared_event_types()
        routes.append(Route("/events", events_endpoint(store, settings.server.events_token.get_secret_value(),
                                                       policy or AddressPolicy(), wakeups, declared),
                            methods=["POST"]))
    if settings.server.unsubscribe_secret is not None and store is not None:
        previous = [secret.get_secret_value() for secret in settings.server.unsubscribe_previous_secrets]
        routes.append(Route("/unsubscribe/{token}", unsubscribe_endpoint(
            store, settings.server.unsubscribe_secret.get_secret_value(), wakeups, settings.rules.unsubscribe_field,
            previous_secrets=previous), methods=["GET", "POST"]))
    if settings.connect.providers and store is not None:
        routes += _connect_routes(settings, store, wakeups)
    if settings.push.graph is not None and graph is not None:
        endpoint = _graph_endpoint(settings.push.graph.client_state.get_secret_value(), wakeups, graph)
        routes += [Route("/push/graph", endpoint, methods=["POST"]),
                   Route("/push/graph/lifecycle", endpoint, methods=["POST"])]
    if settings.push.gmail is not None:
        routes.append(Route("/push/gmail", _gmail_endpoint(settings, wakeups, known), methods=["POST"]))
    if settings.push.hubspot is not None:
        routes.append(Route("/webhooks/hubspot", _hubspot_endpoint(settings, wakeups), methods=["POST"]))
    # Outermost, so a body is bounded before any route reads it (limits.py).
    return Starlette(routes=routes, middleware=[Middleware(HttpLimits, limits=settings.server.limits)])


def _connect_routes(settings: Settings, store: Store, wakeups: Wakeups) -> list[Route]:
    """The rep-facing connect and disconnect pages. Raises SecretsUnusable (exit 2) without a secret key:
    a rep's refresh token is never kept in clear text."""
    tokens = secret_store(settings, store)
    if tokens is None:
        raise SecretsUnusable(no_key_message("connect links (connect: in the config)"))
    return ConnectPages(settings, store, tokens, consent_flows(settings, tokens), wakeups).routes()


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _gmail_endpoint(settings: Settings, wakeups: Wakeups,
                    known: Callable[[], Collection[str]]) -> Callable[[Request], Awaitable[Response]]:
    push = settings.push.gmail
    assert push is not None
    auth = PubSubAuth(push.audience, push.service_account_email, push.certs_url)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            verify_push(request.headers.get("authorization"), auth)
            address = changed_mailbox(body)
        except PushRejected as exc:
            log.warning("push.rejected", provider="gmail", reason=str(exc))
            return JSONResponse({"error": "rejected"}, status_code=403)
        if address in known():
            wakeups.wake(mailbox_source(address))
            log.info("push.received", provider="gmail", mailbox=address)
        # 2xx acknowledges the message so Pub/Sub does not redeliver it; unknown mailboxes included.
        return Response(status_code=204)

    return endpoint


def _graph_endpoint(client_state: str, wakeups: Wakeups, graph: GraphHooks) -> Callable[[Request], Awaitable[Response]]:
    expected = KnownSecret(client_state)

    async def endpoint(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:          # subscription validation: echo within 10 s, as text/plain
            return _validation_answer(token)
        try:
            notices = read_notices(await request.body(), expected)
        except NotificationRejected as exc:
            log.warning("push.rejected", provider="graph", reason=str(exc))
            return JSONResponse({"error": "rejected"}, status_code=403)
        for notice in notices:
            address = graph.subscriptions.mailbox_for(notice.subscription_id)
            if notice.lifecycle_event:
                graph.on_lifecycle(notice.subscription_id, notice.lifecycle_event)
            elif address:
                wakeups.wake(mailbox_source(address))
        return Response(status_code=202)

    return endpoint


def _validation_answer(token: str) -> Response:
    try:
        echo = validation_echo(token)
    except NotificationRejected as exc:
        log.warning("push.rejected", provider="graph", reason=str(exc))
        return JSONResponse({"error": str(exc)}, status_code=400)
    # The endpoint is public and echoes what it is given: nosniff keeps a browser from rendering it as HTML.
    return PlainTextResponse(echo, headers={"X-Content-Type-Options": "nosniff"})


def _hubspot_endpoint(settings: Settings, wakeups: Wakeups) -> Callable[[Request], Awaitable[Response]]:
    hooks = settings.push.hubspot
    assert hooks is not None
    secret = hooks.app_secret.get_secret_value()
    public = settings.server.public_url
    replays = ReplayGuard()

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        uri = f"{public.rstrip('/')}{request.url.path}" if public else str(request.url)
        if public and request.url.query:
            uri += f"?{request.url.query}"
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            events = verify_v3(secret, request.method, uri, body, headers)
            if not replays.first_time(headers["x-hubspot-signature-v3"]):
                raise WebhookRejected("replay of a delivery already accepted")
        except WebhookRejected as exc:
            log.warning("push.rejected", provider="hubspot", reason=str(exc))
            return JSONResponse({"error": "rejected"}, status_code=401)
        if any(str(e.get("subscriptionType", "")).startswith("contact.") for e in events):
            wakeups.wake(CRM_SOURCE)
        return Response(status_code=204)

    return endpoint
