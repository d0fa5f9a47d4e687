"""The daemon's HTTP endpoints for push: Gmail Pub/Sub pushes and HubSpot webhooks (plus /healthz).

Every endpoint verifies the provider's signature before it does anything, then only
wakes a source: the pull that follows reads from the stored cursor, so a forged,
lost, repeated or reordered notification cannot make Threadline log anything.
"""

from __future__ import annotations

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from threadline.config.models import Settings
from threadline.connector.push.gmail_pubsub import PubSubAuth, PushRejected, changed_mailbox, verify_push
from threadline.connector.push.hubspot_webhooks import WebhookRejected, verify_v3
from threadline.connector.push.wakeups import Wakeups
from threadline.sync.engine import CRM_SOURCE, mailbox_source

log = structlog.get_logger("threadline.push")


def build_web_app(settings: Settings, wakeups: Wakeups) -> Starlette:
    """The push/health app for one configuration."""
    known_mailboxes = {box.address for box in settings.mailboxes}
    routes = [Route("/healthz", _healthz, methods=["GET"])]
    if settings.push.gmail is not None:
        routes.append(Route("/push/gmail", _gmail_endpoint(settings, wakeups, known_mailboxes), methods=["POST"]))
    if settings.push.hubspot is not None:
        routes.append(Route("/webhooks/hubspot", _hubspot_endpoint(settings, wakeups), methods=["POST"]))
    return Starlette(routes=routes)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _gmail_endpoint(settings: Settings, wakeups: Wakeups, known: set[str]):  # type: ignore[no-untyped-def]
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
        if address in known:
            wakeups.wake(mailbox_source(address))
            log.info("push.received", provider="gmail", mailbox=address)
        # 2xx acknowledges the message so Pub/Sub does not redeliver it; unknown mailboxes included.
        return Response(status_code=204)

    return endpoint


def _hubspot_endpoint(settings: Settings, wakeups: Wakeups):  # type: ignore[no-untyped-def]
    hooks = settings.push.hubspot
    assert hooks is not None
    secret = hooks.app_secret.get_secret_value()
    public = settings.server.public_url

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        uri = f"{public.rstrip('/')}{request.url.path}" if public else str(request.url)
        if public and request.url.query:
            uri += f"?{request.url.query}"
        try:
            events = verify_v3(secret, request.method, uri, body, {k.lower(): v for k, v in request.headers.items()})
        except WebhookRejected as exc:
            log.warning("push.rejected", provider="hubspot", reason=str(exc))
            return JSONResponse({"error": "rejected"}, status_code=401)
        if any(str(e.get("subscriptionType", "")).startswith("contact.") for e in events):
            wakeups.wake(CRM_SOURCE)
        return Response(status_code=204)

    return endpoint
