"""A Threadline with connect links on the sandbox: settings with `connect:`, its engine and web app on a known port
(the public URL and the redirect URI must name it before the app is built), and a browser that drives the link."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from cryptography.fernet import Fernet
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from tests.web.world import ADMIN_TOKEN, served
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.demo.world import REP
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine
from threadline.connector.wiring.consent import make_connect_link
from threadline.sandbox.server import SandboxServer, free_port
from threadline.sync.engine import SyncEngine


def connect_settings(sandbox: SandboxServer, tmp_path: Path, *, crm: str = "hubspot", mailbox: str = "gmail",
                     port: int, store_url: str | None = None) -> tuple[Settings, dict[str, str], dict[str, Any]]:
    """The demo's CRM and rep on the sandbox, with no mailbox entry: the rep connects through a link."""
    seeded = seed_demo(sandbox, crm, mailbox)
    config: dict[str, Any] = demo_config(sandbox, store_url or f"sqlite:///{tmp_path / 's.db'}", seeded, crm, mailbox)
    config["mailboxes"] = []
    public = f"http://127.0.0.1:{port}"
    config["server"] = {"host": "127.0.0.1", "port": port, "public_url": public, "admin_token": ADMIN_TOKEN}
    s, ca = sandbox.settings, str(sandbox.tls.ca_cert) if sandbox.tls else None
    if mailbox == "gmail":
        config["connect"] = {"gmail": {"client_id": s.google_client_id, "client_secret": s.google_client_secret,
                                       "auth_uri": f"{sandbox.url}/o/oauth2/v2/auth",
                                       "token_uri": f"{sandbox.url}/token", "revoke_uri": f"{sandbox.url}/revoke",
                                       "base_url": sandbox.url, "ca_file": ca}}
        sandbox.gmail.oauth.register_redirect_uri(s.google_client_id, f"{public}/connect/callback/gmail")
    else:
        config["connect"] = {"outlook": {"tenant": s.graph_tenant_id, "client_id": s.graph_client_id,
                                         "client_secret": s.graph_client_secret, "authority_host": sandbox.url,
                                         "base_url": f"{sandbox.url}/v1.0", "ca_file": ca}}
        sandbox.graph.identity.register_redirect_uri(s.graph_client_id, f"{public}/connect/callback/outlook")
    return parse_settings(config, tmp_path / "threadline.yaml", env={}), seeded, config


def secret_key() -> str:
    return Fernet.generate_key().decode()


@dataclass
class ConnectWorld:
    settings: Settings
    engine: SyncEngine
    url: str                # the app's base URL (= server.public_url)
    seeded: dict[str, str]
    sandbox: SandboxServer
    config: dict[str, Any]         # the threadline.yaml the settings came from

    def link(self, address: str = REP, provider: str | None = None, **kwargs: Any) -> str:
        kind = provider or self.settings.connect.providers[0]
        return make_connect_link(self.settings, self.engine.store, address, kind, **kwargs)


@contextmanager
def connect_world(sandbox: SandboxServer, tmp_path: Path, *, crm: str = "hubspot", mailbox: str = "gmail",
                  store_url: str | None = None) -> Iterator[ConnectWorld]:
    """Needs THREADLINE_SECRET_KEY set (monkeypatch): the rep's tokens are kept encrypted."""
    port = free_port()
    settings, seeded, config = connect_settings(sandbox, tmp_path, crm=crm, mailbox=mailbox, port=port, store_url=store_url)
    engine = build_engine(settings)
    with ExitStack() as stack:
        stack.callback(engine.store.dispose)
        stack.callback(engine.close)
        app = build_web_app(settings, Wakeups(), store=engine.store, policy=engine.policy)
        url = stack.enter_context(served(app, port))
        yield ConnectWorld(settings, engine, url, seeded, sandbox, config)


class Browser:
    """The rep's browser over httpx: keeps cookies, follows no redirect, trusts the sandbox CA."""

    def __init__(self, sandbox: SandboxServer) -> None:
        ca = str(sandbox.tls.ca_cert) if sandbox.tls else None
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=ca) if ca else True,
                                 follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def form(self, page: httpx.Response) -> tuple[str, dict[str, str]]:
        """A page's first form: its absolute action and its fields."""
        form = HTMLParser(page.text).css_first("form")
        assert form is not None, page.text
        fields = {str(i.attributes["name"]): str(i.attributes.get("value") or "") for i in form.css("input")}
        return urljoin(str(page.url), str(form.attributes.get("action") or "")), fields

    def press_connect(self, link: str) -> httpx.Response:
        """Open the link and press its button: the answer is the redirect to the provider."""
        page = self.http.get(link)
        assert page.status_code == 200, page.text
        action, fields = self.form(page)
        return self.http.post(action, data=fields)

    def consent(self, provider_url: str, email: str, decision: str = "allow") -> str:
        """Sign in on the provider's page as `email`; returns the callback URL it sends the browser back to."""
        page = self.http.get(provider_url)
        action, fields = self.form(page)
        answer = self.http.post(action, data={**fields, "email": email, "decision": decision})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    def connect(self, link: str, email: str, decision: str = "allow") -> httpx.Response:
        """The whole flow: link page, button, provider sign-in, back to Threadline's callback."""
        start = self.press_connect(link)
        assert start.status_code == 303, start.text
        return self.http.get(self.consent(start.headers["location"], email, decision))


def text_of(page: httpx.Response, selector: str) -> str:
    node = HTMLParser(page.text).css_first(selector)
    return " ".join(node.text().split()) if node is not None else ""
