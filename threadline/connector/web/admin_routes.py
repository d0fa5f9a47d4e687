"""Routes for operators: /readyz (public) and, behind the admin token, /metrics and the status page.

The admin routes exist only when `server.admin_token` is set. A request is admitted by
`Authorization: Bearer <token>` or by the session cookie the login form sets; /status
sends anyone else to /login, the JSON endpoints answer 401. The status page's one action,
`POST /status/connect-link`, also needs the page's CSRF value (an HMAC of the session cookie)
unless it comes with the bearer token; the link it makes is shown once and never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import anyio
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from threadline.config.models import Settings
from threadline.connector.monitoring import readiness
from threadline.connector.monitoring.metrics import CONTENT_TYPE, Metrics
from threadline.connector.reports.outcome_metrics import OutcomeCollector
from threadline.connector.web.admin_auth import AdminAuth, LoginThrottle
from threadline.connector.web.forms import read_form
from threadline.connector.web.secret_checks import bearer_credentials
from threadline.connector.web.status_page import (
    SECURITY_HEADERS,
    render_connect_link,
    render_login,
    render_status,
    status_view,
)
from threadline.connector.wiring.consent import LinkRefused, make_connect_link
from threadline.sync.store.database import Store

log = structlog.get_logger("threadline.admin")
#: /readyz answers within this many seconds even when the store hangs.
READY_TIMEOUT_SECONDS = 3.0


def readyz_endpoint(settings: Settings, store: Store | None, started: datetime) -> Callable[[Request], Awaitable[Response]]:
    """GET /readyz: 200 when every check passes, else 503; the JSON body lists the checks (no secrets)."""
    budgets = readiness.source_budgets(settings)

    def judge() -> readiness.Readiness:
        if store is None:
            return readiness.store_down("no store configured")
        try:
            return readiness.assess(store, budgets, started_at=started)
        except Exception as exc:  # noqa: BLE001 - any store failure means not ready; the body names only its type
            return readiness.store_down(f"store unreachable ({type(exc).__name__})")

    async def endpoint(request: Request) -> Response:
        result = readiness.store_down(f"store did not answer within {READY_TIMEOUT_SECONDS:g}s")
        with anyio.move_on_after(READY_TIMEOUT_SECONDS):
            result = await anyio.to_thread.run_sync(judge, abandon_on_cancel=True)
        return JSONResponse(result.as_dict(), status_code=200 if result.ready else 503,
                            headers={"Cache-Control": "no-store"})

    return endpoint


def admin_routes(settings: Settings, store: Store, started: datetime) -> list[Route]:
    """/metrics, /api/status and the status page with its login, all behind the admin token."""
    token = settings.server.admin_token
    assert token is not None
    auth = AdminAuth(token.get_secret_value(), secure=(settings.server.public_url or "").startswith("https://"))
    collectors = []
    if settings.rules.sequences:
        outcomes = OutcomeCollector(settings, store)
        outcomes.start()            # the first scrape of a large store would otherwise find no outcome gauges yet
        collectors.append(outcomes)
    metrics = Metrics(settings, store, started, collectors=collectors)
    throttle = LoginThrottle()

    def metrics_endpoint(request: Request) -> Response:
        if not auth.allows(request):
            return _unauthorized()
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    def api_status(request: Request) -> Response:
        if not auth.allows(request):
            return _unauthorized()
        return JSONResponse(status_view(store, settings, started_at=started), headers={"Cache-Control": "no-store"})

    def status(request: Request) -> Response:
        if not auth.allows(request):
            return RedirectResponse("/login", status_code=303)
        return _html(render_status(status_view(store, settings, started_at=started), csrf=auth.csrf_token(request)))

    async def connect_link(request: Request) -> Response:
        if not auth.allows(request):
            if bearer_credentials(request.headers.get("authorization", "")) is not None:
                return _unauthorized()
            return RedirectResponse("/login", status_code=303)
        fields = await read_form(request)
        address, provider = fields.get("address", "").strip().lower(), fields.get("provider", "").strip()
        if not auth.csrf_valid(request, fields.get("csrf", "")):
            log.warning("admin.connect_link_refused", reason="csrf")
            return _html(render_connect_link(address, provider, problem="This form came from somewhere else or the "
                                             "status page was open too long: reload the status page and press "
                                             "the button again."), status_code=403)
        try:
            link = await anyio.to_thread.run_sync(make_connect_link, settings, store, address, provider)
        except LinkRefused as exc:
            return _html(render_connect_link(address, provider, problem=str(exc)), status_code=400)
        log.info("admin.connect_link_made", mailbox=address, provider=provider)     # never the link
        return _html(render_connect_link(address, provider, link=link,
                                         lifetime=_duration(settings.connect.link_lifetime)))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return _html(render_login())
        if not throttle.allowed():
            throttled = _html(render_login(failed=True, throttled=True), status_code=429)
            throttled.headers["Retry-After"] = str(throttle.retry_after())
            return throttled
        fields = await read_form(request)
        if not auth.token_matches(fields.get("token", "")):
            throttle.failed()
            log.warning("admin.login_refused")          # never the attempted token
            return _html(render_login(failed=True), status_code=401)
        response = RedirectResponse("/status", status_code=303)
        auth.start_session(response)
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        auth.end_session(response)
        return response

    return [Route("/metrics", metrics_endpoint, methods=["GET"]), Route("/api/status", api_status, methods=["GET"]),
            Route("/status", status, methods=["GET"]), Route("/status/connect-link", connect_link, methods=["POST"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["GET", "POST"])]


def _unauthorized() -> Response:
    return JSONResponse({"error": "admin token required"}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="threadline"'})


def _html(body: str, status_code: int = 200) -> Response:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def _duration(value: timedelta) -> str:
    """"7 days", "48 hours", "30 minutes" (the largest whole unit)."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
