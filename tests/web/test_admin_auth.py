"""Admin endpoints need the admin token (bearer or the login cookie); without a configured token they do not exist."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.responses import Response

from tests.web.world import ADMIN_TOKEN, admin, web_settings, world
from threadline.config.loading import ConfigError
from threadline.connector.web.admin_auth import COOKIE, AdminAuth
from threadline.sandbox.server import SandboxServer

ADMIN_PATHS = ["/metrics", "/api/status", "/status"]


def test_every_admin_path_needs_the_token_and_a_wrong_one_is_refused(sandbox: SandboxServer, sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    with world(web_settings(sandbox, sqlite_url, tmp_path)) as (_, url):
        for path in ADMIN_PATHS:
            anonymous = httpx.get(f"{url}{path}")
            wrong = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"})
            assert (anonymous.status_code, wrong.status_code) == ((303, 303) if path == "/status" else (401, 401))
            assert admin(url, path).status_code == 200, path
        assert httpx.get(f"{url}/status").headers["location"] == "/login"
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code in (200, 503)


def test_without_an_admin_token_the_admin_endpoints_do_not_exist(sandbox: SandboxServer, sqlite_url: str,
                                                                 tmp_path: Path) -> None:
    with world(web_settings(sandbox, sqlite_url, tmp_path, admin_token=None)) as (_, url):
        for path in [*ADMIN_PATHS, "/login"]:
            assert httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 404
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_the_login_form_sets_a_strict_httponly_session_cookie(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    with world(web_settings(sandbox, sqlite_url, tmp_path)) as (_, url), httpx.Client(base_url=url) as browser:
        refused = browser.post("/login", data={"token": "guess"})
        assert refused.status_code == 401 and COOKIE not in refused.cookies and "not right" in refused.text
        accepted = browser.post("/login", data={"token": ADMIN_TOKEN})
        assert (accepted.status_code, accepted.headers["location"]) == (303, "/status")
        cookie = accepted.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert ADMIN_TOKEN not in cookie
        assert browser.get("/status").status_code == 200 and browser.get("/api/status").status_code == 200
        session = browser.cookies[COOKIE]
        expires, _, signature = session.partition(".")
        for forged in (f"{int(expires) + 3600}.{signature}", f"{expires}.{'0' * len(signature)}", expires):
            assert httpx.get(f"{url}/api/status", headers={"Cookie": f"{COOKIE}={forged}"}).status_code == 401
        assert httpx.get(f"{url}/api/status", headers={"Cookie": f"{COOKIE}={session}"}).status_code == 200
        browser.post("/login", data={"token": ADMIN_TOKEN})
        browser.post("/logout")
        assert browser.get("/status").status_code == 303
    captured = capfd.readouterr()
    assert ADMIN_TOKEN not in captured.out + captured.err


def test_the_cookie_is_secure_behind_an_https_public_url_and_expires() -> None:
    now = [1_000_000.0]
    auth = AdminAuth("t0ken", secure=True, clock=lambda: now[0], session_seconds=60)
    response = Response()
    auth.start_session(response)
    header = response.headers["set-cookie"]
    assert "Secure" in header
    value = header.split(";")[0].split("=", 1)[1]
    assert auth.session_valid(value)
    assert not AdminAuth("other", secure=True, clock=lambda: now[0]).session_valid(value)   # a rotated token ends it
    now[0] += 61
    assert not auth.session_valid(value)


def test_the_login_form_holds_off_after_ten_failures_a_minute(sandbox: SandboxServer, sqlite_url: str,
                                                             tmp_path: Path) -> None:
    with world(web_settings(sandbox, sqlite_url, tmp_path)) as (_, url):
        codes = [httpx.post(f"{url}/login", data={"token": f"guess-{n}"}).status_code for n in range(10)]
        held = httpx.post(f"{url}/login", data={"token": ADMIN_TOKEN})
        assert codes == [401] * 10 and held.status_code == 429 and "set-cookie" not in held.headers
        assert 1 <= int(held.headers["retry-after"]) <= 60       # when to try again, as every other 429 says
        assert admin(url, "/api/status").status_code == 200          # the bearer token still works


def test_a_short_admin_token_is_a_config_error(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin_token"):
        web_settings(sandbox, sqlite_url, tmp_path, admin_token="hunter2")
