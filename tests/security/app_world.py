"""The real HTTP app with every feature on (admin, /events, unsubscribe, Gmail/Graph/HubSpot push), served on a port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.web.world import ADMIN_TOKEN, served
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.run import demo_config
from threadline.connector.demo.world import REP
from threadline.connector.web.app import GraphHooks, build_web_app
from threadline.connector.web.push.graph_notifications import GraphSubscriptions
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine

EVENTS_TOKEN = "evt-4b1d9a7c2e6f8a03-not-a-real-secret"
UNSUBSCRIBE_SECRET = "uns-9e2c4f6a8b0d1e3f-not-a-real-secret"
CLIENT_STATE = "cs-5a7c9e1b3d5f7a9c-not-a-real-secret"
APP_SECRET = "hs-app-3c5e7a9b1d3f5a7c-not-a-real-secret"
PUBLIC_URL = "https://threadline.example.com"
GMAIL_AUDIENCE = f"{PUBLIC_URL}/push/gmail"
GRAPH_SUBSCRIPTION = "sub-graph-1"


@dataclass
class App:
    """A served app: its URL, the engine behind it, and what it woke / which Graph lifecycle events it saw."""

    url: str
    engine: SyncEngine
    wakeups: Wakeups
    settings: Settings
    lifecycle: list[tuple[str, str]] = field(default_factory=list)

    def woken(self) -> set[str]:
        return self.wakeups.take()


def full_settings(sandbox: SandboxServer, store_url: str, tmp_path: Path, seeded: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Gmail + HubSpot on the sandbox (as `seed_demo` left it, if given) with every HTTP feature configured."""
    config: dict[str, Any] = demo_config(sandbox, store_url, seeded or {
        "refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "owner_id": "1"})
    config["server"] = {"port": 0, "admin_token": ADMIN_TOKEN, "events_token": EVENTS_TOKEN,
                        "unsubscribe_secret": UNSUBSCRIBE_SECRET, "public_url": PUBLIC_URL, "readiness_floor": "1s"}
    config["push"] = {"gmail": {"topic": "projects/sandbox/topics/gmail", "audience": GMAIL_AUDIENCE,
                                "certs_url": f"{sandbox.url}/oauth2/v1/certs"},
                      "hubspot": {"app_secret": APP_SECRET},
                      "graph": {"notification_url": f"{PUBLIC_URL}/push/graph", "client_state": CLIENT_STATE}}
    config["rules"] = {"scoring": {"custom_events": ["form.submitted", "page.visited"]}}   # POST /events takes these
    config.update(overrides)
    return parse_settings(config, tmp_path / "threadline.yaml", env={})


@contextmanager
def full_app(settings: Settings) -> Iterator[App]:
    """build_web_app as the daemon calls it (Graph hooks included), served by uvicorn."""
    engine = build_engine(settings)
    wakeups = Wakeups()
    subscriptions = GraphSubscriptions()
    subscriptions.add(GRAPH_SUBSCRIPTION, REP)
    lifecycle: list[tuple[str, str]] = []
    hooks = GraphHooks(subscriptions, lambda sub, event: lifecycle.append((sub, event)))
    web = build_web_app(settings, wakeups, hooks, store=engine.store, policy=engine.policy)
    try:
        with served(web) as url:
            yield App(url, engine, wakeups, settings, lifecycle)
    finally:
        engine.close()
        engine.store.dispose()


def routes_of(settings: Settings) -> list[tuple[str, frozenset[str]]]:
    """Every (path, methods) the app for `settings` serves, read from the app itself."""
    from starlette.routing import Route

    engine = build_engine(settings)
    try:
        web = build_web_app(settings, Wakeups(), GraphHooks(GraphSubscriptions(), lambda s, e: None),
                            store=engine.store, policy=engine.policy)
        found = []
        for route in web.routes:
            assert isinstance(route, Route), f"{route!r}: a mount or websocket; teach this test how it authenticates"
            found.append((route.path, frozenset(route.methods or ())))
        return found
    finally:
        engine.close()
        engine.store.dispose()
