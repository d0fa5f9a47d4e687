"""A served app on the sandbox: Gmail + HubSpot settings, the engine that syncs them, the HTTP app on a real port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.run import demo_config
from threadline.connector.demo.world import REP
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

ADMIN_TOKEN = "adm-7f3c9e1b2d4a6f80-not-a-real-secret"


def web_settings(sandbox: SandboxServer, store_url: str, tmp_path: Path, *, poll: str = "1s", owner_id: str = "1",
                 rules: dict[str, Any] | None = None, **server: Any) -> Settings:
    """Gmail (the demo rep) + HubSpot on the sandbox, a 1 s poll interval and a 1 s readiness floor."""
    config: dict[str, Any] = demo_config(sandbox, store_url, {
        "refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "owner_id": owner_id})
    config["sync"]["poll_interval"] = poll
    config["server"] = {"port": 0, "admin_token": ADMIN_TOKEN, "readiness_floor": "1s", **server}
    if rules:
        config["rules"] = rules
    return parse_settings(config, tmp_path / "threadline.yaml", env={})


@contextmanager
def served(app: Starlette, port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn on `port` (0: a free one) in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@contextmanager
def world(settings: Settings, started_at: datetime | None = None) -> Iterator[tuple[SyncEngine, str]]:
    """The engine for `settings` and its HTTP app, served; closed afterwards."""
    engine = build_engine(settings)
    app = build_web_app(settings, Wakeups(), store=engine.store, policy=engine.policy, started_at=started_at)
    try:
        with served(app) as url:
            yield engine, url
    finally:
        engine.close()
        engine.store.dispose()


def admin(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, follow_redirects=False)
