"""Run the sandbox: every simulated provider on one loopback port, in a background thread.

    with SandboxServer() as sandbox:
        sandbox.url          # http://127.0.0.1:PORT  -> every provider's base_url
        sandbox.hubspot      # the simulator object, for seeding and assertions
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from threadline.sandbox.app import build_app
from threadline.sandbox.base import SandboxContext
from threadline.sandbox.settings import SandboxSettings
from threadline.sandbox.tls import TlsFiles, make_test_ca


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """All simulators behind one uvicorn server. Use as a context manager or start()/stop()."""

    def __init__(self, settings: SandboxSettings | None = None, *, port: int = 0, host: str = "127.0.0.1",
                 tls_dir: Path | None = None, log_level: str = "warning") -> None:
        from threadline.sandbox.gmail import GmailSandbox
        from threadline.sandbox.google_sign_in import GoogleSignIn
        from threadline.sandbox.graph import GraphSandbox
        from threadline.sandbox.hubspot import HubSpotSandbox
        from threadline.sandbox.microsoft_sign_in import MicrosoftSignIn
        from threadline.sandbox.pubsub import PubSubSandbox
        from threadline.sandbox.salesforce import SalesforceSandbox

        self.settings = settings or SandboxSettings()
        self.ctx = SandboxContext()
        self.hubspot = HubSpotSandbox(self.settings, self.ctx)
        self.pubsub = PubSubSandbox(self.settings, self.ctx)
        self.gmail = GmailSandbox(self.settings, self.ctx, pubsub=self.pubsub)
        self.salesforce = SalesforceSandbox(self.settings, self.ctx)
        self.graph = GraphSandbox(self.settings, self.ctx)
        # The browser half of the authorization-code flows; Google's id_tokens are signed with the key whose
        # certificate Pub/Sub serves at /oauth2/v1/certs, as Google signs both with its own keys.
        self.gmail.oauth.id_token_signer = self.pubsub.token
        self.google_sign_in = GoogleSignIn(self.settings, self.ctx, self.gmail.oauth, self.gmail.mailboxes.addresses)
        self.microsoft_sign_in = MicrosoftSignIn(self.settings, self.ctx, self.graph.identity)
        self.providers: list[Any] = [self.hubspot, self.gmail, self.pubsub, self.salesforce, self.graph,
                                     self.google_sign_in, self.microsoft_sign_in]
        self.host = host
        self.port = port or free_port()
        self.tls: TlsFiles | None = make_test_ca(tls_dir) if tls_dir else None
        config = uvicorn.Config(
            build_app(self.providers, self.ctx, latency_seconds=self.settings.request_latency_ms / 1000),
            host=host, port=self.port, log_level=log_level,
            access_log=False, lifespan="off",
            # Google's and Microsoft's front ends keep an idle connection for minutes; uvicorn's 5 s default
            # made a benchmark's idle pooled connections break under it (retried, but noise in the figures).
            timeout_keep_alive=120,
            ssl_certfile=str(self.tls.cert) if self.tls else None,
            ssl_keyfile=str(self.tls.key) if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def faults(self) -> Any:
        return self.ctx.faults

    @property
    def stats(self) -> Any:
        return self.ctx.stats

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.run, name="threadline-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

    def serve_forever(self) -> None:
        """Run in the foreground of the calling thread until stopped."""
        self._server.run()

    def wait(self) -> None:
        """Block until the server started by start() stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", verify=str(self.tls.ca_cert) if self.tls else True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
