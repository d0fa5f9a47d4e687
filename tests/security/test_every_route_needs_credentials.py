"""Every route of the real app, with every feature on, refuses a request that carries no credentials.

The routes are read from the app itself, so a route added later is probed too: unless it is
listed in PUBLIC below with the reason it may be open, an anonymous request must be refused
(401/403, a redirect to the login form, or 404 for a link whose signature does not verify) and
must have no effect (nothing woken, nothing stored).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlmodel import func, select

from tests.security.app_world import full_app, full_settings, routes_of
from tests.web.world import ADMIN_TOKEN
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import EventRow, OutboxRow

#: (path, method) -> why it may answer without credentials. Keep this list short.
PUBLIC = {
    ("/healthz", "GET"): "liveness probe: says only 'ok'",
    ("/healthz", "HEAD"): "liveness probe",
    ("/readyz", "GET"): "readiness probe for the orchestrator: check names and states, no secrets",
    ("/readyz", "HEAD"): "readiness probe",
    ("/login", "GET"): "the login form itself",
    ("/login", "HEAD"): "the login form itself",
    ("/logout", "GET"): "only clears the session cookie",
    ("/logout", "HEAD"): "only clears the session cookie",
    ("/logout", "POST"): "only clears the session cookie",
}
#: A value for a path parameter: something an attacker could type, signed by nobody.
FORGED = "Zm9yZ2Vk.AAAAAAAAAAAAAAAAAAAAAA"
#: Bodies that get past parsing, so that only credentials are being tested.
BODIES = {"/events": b'{"type": "form.submitted", "contact": {"id": "1"}}', "/push/graph": b'{"value": []}',
          "/webhooks/hubspot": b"[]", "/login": b"token="}


def refused(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    if response.status_code in (302, 303, 307) and response.headers.get("location", "").endswith("/login"):
        return True
    # A forged signed link (HEAD has no body to say so).
    return response.status_code == 404 and ("not valid" in response.text or response.request.method == "HEAD")


def test_the_app_under_test_has_every_feature_on(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    paths = {path for path, _ in routes_of(full_settings(sandbox, sqlite_url, tmp_path))}
    assert {"/metrics", "/api/status", "/status", "/events", "/unsubscribe/{token}", "/push/gmail", "/push/graph",
            "/push/graph/lifecycle", "/webhooks/hubspot"} <= paths


def test_every_non_public_route_refuses_an_anonymous_request(sandbox: SandboxServer, sqlite_url: str,
                                                              tmp_path: Path) -> None:
    settings = full_settings(sandbox, sqlite_url, tmp_path)
    probed, open_routes = [], []
    with full_app(settings) as app:
        for path, methods in routes_of(settings):
            url = app.url + re.sub(r"\{[^}]+\}", FORGED, path)
            for method in sorted(methods):
                response = httpx.request(method, url, content=BODIES.get(path, b""), follow_redirects=False,
                                         headers={"Content-Type": "application/json"} if path in BODIES else {})
                probed.append((path, method))
                if (path, method) in PUBLIC:
                    assert response.status_code < 500, (path, method, response.status_code)
                elif not refused(response):
                    open_routes.append(f"{method} {path} -> {response.status_code}")
        assert not open_routes, ("routes that answer without credentials (protect them, or add them to PUBLIC "
                                 f"with the reason): {open_routes}")
        assert app.woken() == set(), "an anonymous request woke a source"
        with app.engine.store.session() as session:
            assert session.exec(select(func.count()).select_from(EventRow)).one() == 0
            assert session.exec(select(func.count()).select_from(OutboxRow)).one() == 0
    assert len(probed) >= 20
    stale = set(PUBLIC) - set(probed)
    assert not stale, f"PUBLIC lists routes the app no longer has: {stale}"


def test_the_admin_token_opens_only_the_admin_routes(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    """Each credential opens its own door: the admin token is not an events token, a webhook secret or a link."""
    settings = full_settings(sandbox, sqlite_url, tmp_path)
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with full_app(settings) as app:
        for path in ("/metrics", "/api/status", "/status"):
            assert httpx.get(app.url + path, headers=bearer).status_code == 200, path
        for path in ("/events", "/push/gmail", "/push/graph", "/webhooks/hubspot", f"/unsubscribe/{FORGED}"):
            response = httpx.post(app.url + path, content=BODIES.get(path, b"{}"), headers=bearer)
            assert refused(response), (path, response.status_code)
        assert app.woken() == set()
