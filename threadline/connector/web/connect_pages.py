"""The rep's side of a connect link: one page, the provider's consent screen, the callback; and the disconnect page.

`GET /connect/<token>` shows which mailbox is being connected and what Threadline reads and writes, with a
button. Its form carries a CSRF value equal to a cookie set with the page (double submit), and pressing it
(`POST`) starts the provider's flow: the OAuth state's and the cookie's digests go on the link, the PKCE
verifier sealed into the secrets table, so whichever replica the provider sends the rep back to can finish.
`GET /connect/callback/<provider>` checks the state against the store, that the same browser came back, and
takes the link's single use in one UPDATE; then redeems the code and checks that the address that signed
in is the invited one (or an alias the admin allowed). Only then are the tokens kept. Anything else gets a
page that says why, and keeps nothing. Codes, states and tokens never reach a log line or a page.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from threadline.adapters.consent import ConsentFlow, ConsentRefused
from threadline.adapters.errors import ProviderError
from threadline.adapters.token_store import TokenStore
from threadline.config.models import Settings
from threadline.connector.web.forms import read_form
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.web.status_page import SECURITY_HEADERS, templates
from threadline.connector.wiring.consent import disconnect_mailbox, link_url, sequences_send
from threadline.sync.engine import mailbox_source
from threadline.sync.mailboxes import connect_links as links
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ConnectLinkRow, utcnow

log = structlog.get_logger("threadline.connect")
COOKIE = "threadline_connect"
COOKIE_SECONDS = 3600
DISCONNECT_LIFETIME = timedelta(days=365)
PROVIDER_NAMES = {"gmail": "Google", "outlook": "Microsoft"}


def flow_secret_name(link_id: str) -> str:
    """Where a started link keeps its flow (PKCE verifier, nonce) until the rep comes back."""
    return f"connect/{link_id}/flow"


class ConnectPages:
    """The rep-facing routes for one configuration. `flows` by provider; `tokens` the sealed secrets table."""

    def __init__(self, settings: Settings, store: Store, tokens: TokenStore, flows: Mapping[str, ConsentFlow],
                 wakeups: Wakeups, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings, self.store, self.tokens, self.flows = settings, store, tokens, dict(flows)
        self.wakeups, self.clock = wakeups, clock
        public = urlsplit(settings.server.public_url or "")
        self.origin = f"{public.scheme}://{public.netloc}"
        self.secure = public.scheme == "https"

    def routes(self) -> list[Route]:
        return [Route("/connect/callback/{provider}", self._async(self.callback), methods=["GET"]),
                Route("/connect/{token}", self._async(self.link), methods=["GET", "POST"]),
                Route("/disconnect/{token}", self._async(self.disconnect), methods=["GET", "POST"])]

    @staticmethod
    def _async(handler: Callable[[Request, dict[str, str]], Response]) -> Callable[[Request], Awaitable[Response]]:
        """Store and provider calls block: run them off the event loop, with the form already read."""
        async def endpoint(request: Request) -> Response:
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await read_form(request)
            return await anyio.to_thread.run_sync(handler, request, form)
        return endpoint

    # -- the invitation page and its button ------------------------------------------------------------
    def _usable(self, token: str) -> ConnectLinkRow | Response:
        """The link behind `token`, or the page that says why it cannot be used."""
        try:
            with self.store.session() as session:
                row = links.usable_link(session, token, now=self.clock())
                session.expunge(row)
                return row
        except links.LinkProblem as exc:
            return self._page("Link not usable", problem=str(exc), status=404)

    def link(self, request: Request, form: dict[str, str]) -> Response:
        token = request.path_params["token"]
        row = self._usable(token)
        if isinstance(row, Response):
            return row
        flow = self.flows.get(row.provider)
        if row.purpose != links.CONNECT or flow is None:
            return self._page("Link not usable", problem="This link is not a connect link this server can use. "
                                                         "Ask your Threadline admin for a new one.", status=404)
        if request.method == "GET":
            nonce = links.new_secret()
            response = self._connect_page(row, nonce, f"/connect/{token}")
            self._set_cookie(response, nonce)
            return response
        if not self._same_browser_form(request, form):
            log.warning("connect.csrf_refused", link=row.id[:12])
            return self._page("Please try again", problem="This page was open too long or came from somewhere "
                                                          "else. Open your connect link again.", status=403)
        try:
            start = flow.begin(row.address)
        except ProviderError as exc:
            log.warning("connect.begin_failed", provider=row.provider, error=exc.kind)
            return self._page("Cannot reach the provider", problem=f"{PROVIDER_NAMES[row.provider]} could not be "
                              "reached. Try again in a few minutes.", status=502)
        self.tokens.put(flow_secret_name(row.id), json.dumps(start.flow))
        with self.store.session() as session:
            links.start(session, row.id, start.state, request.cookies[COOKIE])
        log.info("connect.started", mailbox=row.address, provider=row.provider)
        response = RedirectResponse(start.url, status_code=303)
        return self._secured(response, row.provider)

    # -- the provider sends the rep back ------------------------------------------------------------------
    def callback(self, request: Request, form: dict[str, str]) -> Response:
        provider = request.path_params["provider"]
        params = {k: v for k, v in request.query_params.items()}
        flow = self.flows.get(provider)
        if flow is None or not params.get("state"):
            return self._page("Sign-in not recognised", problem="This address only finishes a sign-in started "
                                                                "from a Threadline connect link.", status=400)
        try:
            with self.store.session() as session:
                row = links.link_for_state(session, params["state"], now=self.clock())
                session.expunge(row)
        except links.LinkProblem as exc:
            log.warning("connect.callback_refused", provider=provider, reason="state")
            return self._page("Sign-in not recognised", problem=str(exc), status=400)
        cookie = request.cookies.get(COOKIE, "")
        if row.provider != provider or not cookie or not hmac.compare_digest(
                links.digest(cookie).encode(), (row.browser_digest or "").encode()):
            log.warning("connect.callback_refused", provider=provider, reason="browser", link=row.id[:12])
            return self._page("Sign-in not recognised", problem="Finish connecting in the same browser you "
                                                                "started in: open your connect link again.",
                              status=400)
        stored = self.tokens.get(flow_secret_name(row.id))
        with self.store.session() as session:
            taken = stored is not None and links.claim(session, row.id, "connecting", now=self.clock())
        if not taken:
            return self._page("Link already used", problem="This link has already been used. Ask your "
                                                           "Threadline admin for a new one.", status=409)
        self.tokens.delete(flow_secret_name(row.id))      # state and verifier are single use, whatever follows
        assert stored is not None
        return self._finish(row, flow, json.loads(stored), params)

    def _finish(self, row: ConnectLinkRow, flow: ConsentFlow, state: dict[str, Any],
                params: dict[str, str]) -> Response:
        try:
            granted = flow.finish(row.address, state, params)
        except ConsentRefused as exc:
            self._release(row, f"refused: {exc.error or 'consent'}")
            log.info("connect.refused", mailbox=row.address, provider=row.provider, error=exc.error)
            return self._page("Not connected", problem=exc.reason, status=400)
        except ProviderError as exc:
            self._release(row, f"provider error: {exc.kind}")
            log.warning("connect.provider_error", mailbox=row.address, provider=row.provider, error=exc.kind)
            return self._page("Not connected", problem=f"{PROVIDER_NAMES[row.provider]} could not finish the "
                              "sign-in. Open your connect link again in a few minutes.", status=502)
        allowed = {row.address, *filter(None, row.aliases.split(","))}
        if granted.signed_in not in allowed:
            granted.discard()
            self._release(row, "refused: signed in as another account")
            log.warning("connect.wrong_account", mailbox=row.address, provider=row.provider)
            who = granted.signed_in or "an unknown account"
            return self._page("Not connected", problem=f"You signed in as {who}, but this link is for "
                              f"{row.address}. Open the link again and sign in as {row.address}.", status=403)
        granted.keep()
        with self.store.session() as session:
            links.record_outcome(session, row.id, f"connected as {granted.signed_in}")
            links.connected(session, row.address, row.provider, None)
            disconnect = links.make_link(session, row.address, row.provider, DISCONNECT_LIFETIME,
                                         purpose=links.DISCONNECT, now=self.clock())
        self.wakeups.wake(mailbox_source(row.address))
        log.info("connect.connected", mailbox=row.address, provider=row.provider, scopes=list(granted.scopes))
        return self._page("Mailbox connected", page="connected", address=row.address,
                          disconnect_url=link_url(self.settings, links.DISCONNECT, disconnect))

    def _release(self, row: ConnectLinkRow, outcome: str) -> None:
        """A failed finish leaves the link usable again (it has not connected anything), never its state."""
        with self.store.session() as session:
            stored = session.get(ConnectLinkRow, row.id)
            if stored is not None:
                stored.used_at, stored.state_digest, stored.browser_digest = None, None, None
                stored.outcome = outcome[:500]
                session.add(stored)

    # -- the rep disconnects ---------------------------------------------------------------------------------
    def disconnect(self, request: Request, form: dict[str, str]) -> Response:
        token = request.path_params["token"]
        row = self._usable(token)
        if isinstance(row, Response):
            return row
        if row.purpose != links.DISCONNECT:
            return self._page("Link not usable", problem="This is not a disconnect link.", status=404)
        if request.method == "GET":
            nonce = links.new_secret()
            response = self._page("Disconnect your mailbox", page="disconnect", address=row.address,
                                  action=f"/disconnect/{token}", csrf=nonce)
            self._set_cookie(response, nonce)
            return response
        if not self._same_browser_form(request, form):
            return self._page("Please try again", problem="Open your disconnect link again.", status=403)
        with self.store.session() as session:
            if not links.claim(session, row.id, "disconnected by the rep", now=self.clock()):
                return self._page("Link already used", problem="This link has already been used.", status=409)
        disconnect_mailbox(self.store, self.flows, row.address, "disconnected by the rep")
        return self._page("Mailbox disconnected", page="disconnected", address=row.address)

    # -- pages, cookies ---------------------------------------------------------------------------------------
    def _connect_page(self, row: ConnectLinkRow, nonce: str, action: str) -> Response:
        sync = self.settings.sync
        return self._page("Connect your mailbox", page="connect", address=row.address,
                          provider_name=PROVIDER_NAMES[row.provider], crm_name=self.settings.crm.kind.title(),
                          sends=sequences_send(self.settings), log_outgoing=sync.log_outgoing,
                          internal=", ".join(sync.internal_domains),
                          excluded=", ".join([*sync.exclude_domains, *sync.exclude_addresses]),
                          action=action, csrf=nonce, provider=row.provider)

    def _page(self, title: str, *, problem: str | None = None, status: int = 200, page: str = "problem",
              provider: str | None = None, **values: Any) -> Response:
        body = templates.get_template("connect.html").render(title=title, heading="connect a mailbox",
                                                             problem=problem, page=page, **values)
        return self._secured(HTMLResponse(body, status_code=status), provider)

    def _secured(self, response: Response, provider: str | None) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        # The button's POST answers with a redirect to the provider: CSP form-action covers redirects too.
        flow = self.flows.get(provider or "")
        targets = _origin(flow.consent_url) if flow else ""
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; "
            f"form-action 'self' {targets}".rstrip() + "; frame-ancestors 'none'; base-uri 'none'")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"       # the link's token is in the URL
        return response

    def _set_cookie(self, response: Response, nonce: str) -> None:
        # Lax, not Strict: the provider's redirect back is a cross-site top-level GET, which must carry it.
        response.set_cookie(COOKIE, nonce, max_age=COOKIE_SECONDS, path="/", httponly=True, samesite="lax",
                            secure=self.secure)

    def _same_browser_form(self, request: Request, form: Mapping[str, str]) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin != self.origin:
            return False
        cookie, sent = request.cookies.get(COOKIE, ""), form.get("csrf", "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
