"""The team part of `threadline demo`: a whole sales team connected in two ways, then replies for all of them.

Three more reps are CRM owners (HubSpot owners or Salesforce Users) in the team's domain: one `mailbox_sources`
entry (a Gmail service account with domain-wide delegation, or an Outlook app registration) finds their
mailboxes with their owner ids. A fourth rep, outside the domain, connects her own mailbox through a connect
link: Threadline's web app serves the link on a loopback port, and the rep's "browser" (httpx here) opens it,
presses the button, signs in on the sandbox's Google or Microsoft consent page and lands on the callback. Then
one reply waits in each of the four mailboxes, and the demo checks that each landed once on its contact.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import uvicorn
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table
from selectolax.lexbor import LexborHTMLParser

from threadline.config.loading import parse_settings
from threadline.connector.demo.world import INTERNAL_DOMAIN, _mail
from threadline.connector.monitoring.team_mailboxes import mailbox_lines
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine
from threadline.connector.wiring.consent import make_connect_link
from threadline.sandbox.server import SandboxServer, free_port
from threadline.sync.engine import SyncEngine


@dataclass(frozen=True)
class TeamRep:
    address: str
    first: str
    customer: str            # the contact who replies to this rep


FOUND = (TeamRep(f"ben@{INTERNAL_DOMAIN}", "Ben", "lena@vandelay.example"),
         TeamRep(f"cara@{INTERNAL_DOMAIN}", "Cara", "raj@wayne-ent.example"),
         TeamRep(f"dev@{INTERNAL_DOMAIN}", "Dev", "tomas@stark-ind.example"))
#: A contractor outside the Workspace / tenant domain: only a connect link can reach her mailbox.
LINKED = TeamRep("erin@northwind-partners.example", "Erin", "yuki@cyberdyne.example")


class TeamDemo:
    """Seeds the team, runs the engine with `mailbox_sources` and `connect:`, drives one connect link."""

    def __init__(self, console: Console, server: SandboxServer, config: dict[str, Any], workdir: Path,
                 crm: str, mailbox: str) -> None:
        self.console, self.server, self.workdir = console, server, workdir
        self.base, self.crm, self.mailbox = config, crm, mailbox

    def run(self) -> bool:
        """True when every team reply landed exactly once."""
        self.console.rule("the team: three reps found from the CRM's owners, one connected through a link")
        owners = self._seed()
        port = free_port()
        settings = parse_settings(self._config(port), Path("(demo team)"), env={})
        engine = build_engine(settings)
        app = build_web_app(settings, Wakeups(), store=engine.store, policy=engine.policy)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, name="demo web", daemon=True)
        thread.start()
        try:
            _wait_for(lambda: server.started)
            engine.run_once()                                   # reads the owners: three mailboxes found
            link = make_connect_link(settings, engine.store, LINKED.address, self.mailbox)
            self.console.print(f"connect link for {LINKED.address}: {link.rsplit('/', 1)[0]}/…")
            answer = self._rep_connects(link)
            self.console.print(f"{LINKED.first} opened it and signed in: [green]{answer}[/]")
            for _ in range(2):
                engine.run_once()
            self._show_mailboxes(settings, engine)
            return self._landed_once(owners)
        finally:
            server.should_exit = True
            thread.join(timeout=5)
            engine.close()

    # -- the world ------------------------------------------------------------------------------------
    def _seed(self) -> dict[str, str]:
        """The owners (CRM), their mailboxes and customers' replies; returns customer -> owner id."""
        owners: dict[str, str] = {}
        for rep in (*FOUND, LINKED):
            owner_id = self._add_owner(rep)
            self._add_contact(rep, owner_id)
            owners[rep.customer] = owner_id
            if self.mailbox == "outlook":
                self.server.graph.register_user(rep.address)
            raw = _mail(f"{rep.customer.split('@')[0].title()} <{rep.customer}>", rep.address,
                        f"Re: Next steps with {rep.first}", f"Hi {rep.first}, thanks. Let's go ahead next week.",
                        datetime.now(UTC))[0]
            if self.mailbox == "outlook":
                self.server.graph.deliver(rep.address, raw, "inbox")
            else:
                self.server.gmail.deliver(rep.address, raw, ["INBOX"])
        return owners

    def _add_owner(self, rep: TeamRep) -> str:
        if self.crm == "salesforce":
            return self.server.salesforce.add_user(rep.address, first_name=rep.first, email=rep.address)
        return self.server.hubspot.add_owner(rep.address, first_name=rep.first)

    def _add_contact(self, rep: TeamRep, owner_id: str) -> None:
        name = rep.customer.split("@")[0].title()
        if self.crm == "salesforce":
            self.server.salesforce.add_contact(rep.customer, first_name=name, OwnerId=owner_id)
        else:
            self.server.hubspot.add_contact(rep.customer, firstname=name, owner_id=owner_id)

    def _config(self, port: int) -> dict[str, Any]:
        """The demo's config plus the team: one source for the domain, connect links, a secret key."""
        s, url = self.server.settings, self.server.url
        ca = str(self.server.tls.ca_cert) if self.server.tls else None
        key_file = self.workdir / "secret.key"
        key_file.write_text(Fernet.generate_key().decode() + "\n")
        config = {**self.base, "store": {**self.base["store"], "secret_key_file": str(key_file)},
                  "server": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"}}
        config.pop("rules", None)
        if self.mailbox == "outlook":
            app = {"tenant": s.graph_tenant_id, "client_id": s.graph_client_id, "client_secret": s.graph_client_secret,
                   "authority_host": url, "base_url": f"{url}/v1.0", "ca_file": ca}
            config["mailbox_sources"] = [{"kind": "outlook", "domains": [INTERNAL_DOMAIN], **app}]
            config["connect"] = {"outlook": app}
            self.server.graph.identity.register_redirect_uri(s.graph_client_id,
                                                             f"http://127.0.0.1:{port}/connect/callback/outlook")
        else:
            account = self.workdir / "gmail-service-account.json"
            account.write_text(json.dumps(self.server.gmail.register_service_account(url)))
            config["mailbox_sources"] = [{"kind": "gmail", "domains": [INTERNAL_DOMAIN], "base_url": url,
                                          "token_uri": f"{url}/token", "service_account_file": str(account),
                                          "ca_file": ca}]
            config["connect"] = {"gmail": {"client_id": s.google_client_id, "client_secret": s.google_client_secret,
                                           "auth_uri": f"{url}/o/oauth2/v2/auth", "token_uri": f"{url}/token",
                                           "revoke_uri": f"{url}/revoke", "base_url": url, "ca_file": ca}}
        return config

    # -- the rep's browser ------------------------------------------------------------------------------
    def _rep_connects(self, link: str) -> str:
        """Open the link, press the button, sign in as the rep on the provider's page; Threadline's answer."""
        ca = str(self.server.tls.ca_cert) if self.server.tls else None
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        with httpx.Client(verify=verify, follow_redirects=False, timeout=30) as browser:
            page = browser.get(link)
            action, fields = _form(page)
            provider = browser.get(browser.post(action, data=fields).headers["location"])
            action, fields = _form(provider)
            back = browser.post(action, data={**fields, "email": LINKED.address, "decision": "allow"})
            done = browser.get(back.headers["location"])
        return "connected" if done.status_code == 200 and "is connected" in done.text else f"HTTP {done.status_code}"

    # -- what the admin sees ------------------------------------------------------------------------------
    def _show_mailboxes(self, settings: Any, engine: SyncEngine) -> None:
        table = Table(title="threadline mailboxes")
        for column in ("address", "source", "owner id", "state"):
            table.add_column(column)
        for line in mailbox_lines(settings, store=engine.store):
            table.add_row(line.address, line.source, line.owner_id or "", line.state)
        self.console.print(table)

    def _landed_once(self, owners: dict[str, str]) -> bool:
        counts = {customer: self._logged(customer) for customer in owners}
        ok = all(n == 1 for n in counts.values())
        self.console.print("[green]every team reply landed once[/]" if ok else f"[red]team replies[/] {counts}")
        return ok

    def _logged(self, customer: str) -> int:
        if self.crm == "salesforce":
            org = self.server.salesforce
            return sum(len(org.tasks_for(row["Id"])) for row in org.org.find_by("Contact", "Email", customer))
        hubspot = self.server.hubspot
        return sum(len(hubspot.emails_for(str(c.id))) for c in hubspot.contacts
                   if c.properties.get("email") == customer)


def _form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """A page's first form: its absolute action and its fields."""
    form = LexborHTMLParser(page.text).css_first("form")
    if form is None:
        raise RuntimeError(f"no form on {page.url} (HTTP {page.status_code})")
    fields = {str(i.attributes["name"]): str(i.attributes.get("value") or "") for i in form.css("input[name]")}
    return urljoin(str(page.url), str(form.attributes.get("action") or "")), fields


def _wait_for(ready: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("the demo's web app did not start")
        time.sleep(0.02)
