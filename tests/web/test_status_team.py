"""The whole sales team on the status page (issue #17): every mailbox with its source and state, as
`threadline mailboxes` lists them, and the CRM owners with no mailbox, each with a button that makes a connect
link for them (admin only, CSRF-protected, the link shown once and never logged). Real HTTP end to end: the
web app on a port, the sandbox's HubSpot owners and Google sign-in, the engine's cycles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from alembic import command
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from sqlalchemy import inspect
from sqlmodel import select
from structlog.testing import capture_logs

from tests.web.connect_world import Browser, ConnectWorld, connect_world, text_of
from tests.web.world import ADMIN_TOKEN, admin
from threadline.adapters.records import CrmOwner
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.team_mailboxes import mailbox_lines
from threadline.sandbox.server import SandboxServer
from threadline.sync.mailboxes.connect_links import connected
from threadline.sync.mailboxes.owners import owners_without_mailbox, record_owners
from threadline.sync.store.database import Store, alembic_config, current_revision, head_revision
from threadline.sync.store.tables import ConnectLinkRow, CrmOwnerRow

DANA = "dana@northwind.example"


@pytest.fixture
def team_world(tls_sandbox: SandboxServer, tmp_path: Path, key: str) -> Iterator[ConnectWorld]:
    """The demo rep (a HubSpot owner) and Dana, a second owner with no mailbox yet."""
    tls_sandbox.hubspot.add_owner(DANA, first_name="Dana")
    with connect_world(tls_sandbox, tmp_path) as world:
        yield world


@pytest.fixture
def signed_in(tls_sandbox: SandboxServer, team_world: ConnectWorld) -> Iterator[Browser]:
    """The admin's browser, signed in through the login form (the session cookie)."""
    person = Browser(tls_sandbox)
    answer = person.http.post(f"{team_world.url}/login", data={"token": ADMIN_TOKEN})
    assert answer.status_code == 303 and answer.headers["location"] == "/status"
    yield person
    person.close()


def link_form(page: httpx.Response, address: str, provider: str = "gmail") -> tuple[str, dict[str, str]]:
    """The status page's connect-link form for one owner and provider: its absolute action and its fields."""
    for form in HTMLParser(page.text).css("form"):
        fields = {str(i.attributes["name"]): str(i.attributes.get("value") or "") for i in form.css("input")}
        if fields.get("address") == address and fields.get("provider") == provider:
            return str(page.url.join(str(form.attributes.get("action") or ""))), fields
    raise AssertionError(f"no connect-link form for {address} ({provider}) on the page")


def link_rows(world: ConnectWorld) -> list[ConnectLinkRow]:
    with world.engine.store.session() as session:
        return list(session.exec(select(ConnectLinkRow)).all())


def test_the_status_page_shows_the_connected_mailbox_and_the_owners_without_one(team_world: ConnectWorld,
                                                                               browser: Browser) -> None:
    world = team_world
    assert browser.connect(world.link(REP), REP).status_code == 200
    world.engine.run_once()                          # reads the CRM's owners, takes on the connected mailbox
    world.engine.run_once()

    view = admin(world.url, "/api/status")
    assert view.status_code == 200
    data = view.json()
    boxes = {m["address"]: m for m in data["mailboxes"]}
    assert boxes[REP]["source"] == "connected" and boxes[REP]["kind"] == "gmail"
    assert boxes[REP]["owner_id"] == world.seeded["owner_id"] and boxes[REP]["state"] == "syncing"
    assert data["mailboxes"] == [asdict(line) for line in mailbox_lines(world.settings)]   # the CLI's table
    owners = {o["email"]: o for o in data["owners_without_mailbox"]}
    assert DANA in owners and owners[DANA]["name"] == "Dana Owner"
    assert REP not in owners                                                   # connected: not asked again
    assert data["connect_providers"] == ["gmail"] and data["owners_read"] is True

    page = admin(world.url, "/status")
    assert page.status_code == 200
    html = HTMLParser(page.text)
    row = html.css_first(f'tr.mailbox[data-address="{REP}"]')
    assert row is not None
    cells = [" ".join(td.text().split()) for td in row.css("td")]
    assert cells[:5] == [REP, "gmail", "connected", world.seeded["owner_id"], "syncing"]
    assert row.css_first(".badge.ok") is not None
    owner = html.css_first(f'tr.owner[data-owner="{owners[DANA]["id"]}"]')
    assert owner is not None and DANA in owner.text() and "Dana Owner" in owner.text()
    action, fields = link_form(page, DANA)
    assert action == f"{world.url}/status/connect-link" and fields["csrf"] == ""   # bearer: no session, no csrf
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_the_admin_makes_a_working_link_for_an_owner_from_the_status_page(team_world: ConnectWorld,
                                                                          signed_in: Browser,
                                                                          browser: Browser) -> None:
    world = team_world
    world.engine.run_once()
    page = signed_in.http.get(f"{world.url}/status")
    assert page.status_code == 200
    action, fields = link_form(page, DANA)
    assert len(fields["csrf"]) == 64
    assert not link_rows(world)

    with capture_logs() as events:
        made = signed_in.http.post(action, data=fields)
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store" and made.headers["referrer-policy"] == "no-referrer"
    node = HTMLParser(made.text).css_first("#connect-link")
    assert node is not None
    link = str(node.attributes["value"])
    assert link.startswith(f"{world.url}/connect/") and DANA in text_of(made, "#title")
    assert any(e.get("event") == "admin.connect_link_made" for e in events)
    assert link.rsplit("/", 1)[1] not in json.dumps(events, default=str)       # never logged
    rows = link_rows(world)
    assert [(r.address, r.provider, r.purpose) for r in rows] == [(DANA, "gmail", "connect")]

    opened = browser.http.get(link)                                            # Dana opens it
    assert opened.status_code == 200 and text_of(opened, "#mailbox") == DANA

    world.sandbox.gmail.deliver(DANA, b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n")   # her Google account
    done = browser.connect(link, DANA)
    assert done.status_code == 200 and "is connected" in text_of(done, "#done")
    world.engine.run_once()
    data = admin(world.url, "/api/status").json()
    assert DANA not in {o["email"] for o in data["owners_without_mailbox"]}
    assert {m["address"]: m["source"] for m in data["mailboxes"]}[DANA] == "connected"


def test_a_link_needs_the_admin_and_the_pages_csrf_value(team_world: ConnectWorld, signed_in: Browser,
                                                         browser: Browser) -> None:
    world = team_world
    world.engine.run_once()
    action, fields = link_form(signed_in.http.get(f"{world.url}/status"), DANA)
    no_csrf = {k: v for k, v in fields.items() if k != "csrf"}

    missing = signed_in.http.post(action, data=no_csrf)
    assert missing.status_code == 403 and 'id="connect-link"' not in missing.text
    assert "reload the status page" in text_of(missing, "#problem")
    assert signed_in.http.post(action, data={**fields, "csrf": "0" * 64}).status_code == 403
    assert signed_in.http.post(action, data={**fields, "csrf": "é" * 64}).status_code == 403
    stranger = browser.http.post(action, data=fields)                          # the value, but no session
    assert stranger.status_code == 303 and stranger.headers["location"] == "/login"
    forged = httpx.post(action, data=fields, headers={"Authorization": "Bearer not-the-token"})
    assert forged.status_code == 401
    assert link_rows(world) == []                                              # no link made

    refused = signed_in.http.post(action, data={**fields, "provider": "outlook"})
    assert refused.status_code == 400 and "connect.outlook is not configured" in text_of(refused, "#problem")
    odd = signed_in.http.post(action, data={**fields, "address": "<b>not-an-address</b>"})
    assert odd.status_code == 400 and "<b>" not in odd.text and "&lt;b&gt;" in odd.text   # escaped
    assert link_rows(world) == []

    scripted = httpx.post(action, data=no_csrf, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert scripted.status_code == 200                                         # a bearer request needs no csrf
    assert [r.address for r in link_rows(world)] == [DANA]


def test_owners_are_recorded_and_those_without_a_mailbox_listed(store_url: str) -> None:
    """On SQLite and on the real PostgreSQL: the migration made the table; owners come, change and go."""
    store = Store(store_url)
    try:
        assert current_revision(store.engine) == head_revision() >= "0014"
        assert "crm_owners" in inspect(store.engine).get_table_names()
        team = [CrmOwner(id="1", email="Ann@Northwind.example", name="Ann"),
                CrmOwner(id="2", email="bo@northwind.example", name="Bo"),
                CrmOwner(id="3", email="cy@northwind.example", name="Cy"),
                CrmOwner(id="4", email=None, name="No Address"),
                CrmOwner(id="5", email="old@northwind.example", name="Old", active=False),
                CrmOwner(id="2", email="bo@northwind.example", name="Bo", active=False),   # listed twice
                CrmOwner(id="x" * 65, email="long@northwind.example", name="Too long an id")]
        with store.session() as session:
            assert record_owners(session, team) == (5, 0)
        with store.session() as session:
            connected(session, "cy@northwind.example", "gmail", "3")
        with store.session() as session:
            rows = {row.id: row for row in session.exec(select(CrmOwnerRow)).all()}
            assert rows["1"].email == "ann@northwind.example" and rows["2"].active and not rows["5"].active
            assert [o.email for o in owners_without_mailbox(session, ["ANN@northwind.example"])] == [
                "bo@northwind.example"]                          # ann configured, cy connected, 4 has no address
        with store.session() as session:
            assert record_owners(session, team[:2]) == (0, 2)    # nothing new written; cy and 4 left the CRM
            assert record_owners(session, team[:2]) == (0, 0)    # a pull with nothing new writes nothing
        with store.session() as session:
            cy = session.get(CrmOwnerRow, "3")
            assert cy is not None and not cy.active
            assert [o.email for o in owners_without_mailbox(session, [])] == ["ann@northwind.example",
                                                                              "bo@northwind.example"]
    finally:
        store.dispose()


def test_the_migration_upgrades_a_store_of_the_previous_revision(postgres_url: str) -> None:
    command.upgrade(alembic_config(postgres_url), "0013")
    old = Store(postgres_url, migrate=False)
    try:
        assert current_revision(old.engine) == "0013"
        assert "crm_owners" not in inspect(old.engine).get_table_names()
    finally:
        old.dispose()
    store = Store(postgres_url)
    try:
        assert current_revision(store.engine) == head_revision()
        assert {"crm_owners", "deferred_mail"} <= set(inspect(store.engine).get_table_names())
        assert "caught_up" in {c["name"] for c in inspect(store.engine).get_columns("cursors")}
    finally:
        store.dispose()


def test_the_engine_fills_the_owners_table_on_postgresql(tls_sandbox: SandboxServer, tmp_path: Path, key: str,
                                                        postgres_url: str) -> None:
    tls_sandbox.hubspot.add_owner(DANA, first_name="Dana")
    with connect_world(tls_sandbox, tmp_path, store_url=postgres_url) as world:
        world.engine.run_once()
        with world.engine.store.session() as session:
            rows = {row.email: row for row in session.exec(select(CrmOwnerRow)).all()}
            assert rows[DANA].active and rows[DANA].name == "Dana Owner"
            assert rows[REP].id == world.seeded["owner_id"]
        data = admin(world.url, "/api/status").json()
        assert {DANA, REP} <= {o["email"] for o in data["owners_without_mailbox"]}


def test_a_disconnected_rep_gets_a_new_link_from_the_mailboxes_table(team_world: ConnectWorld, signed_in: Browser,
                                                                   browser: Browser) -> None:
    """The reconnect flow from the admin's side: the stopped (or reauthorize) row carries the same link button."""
    world = team_world
    done = browser.connect(world.link(REP), REP)
    world.engine.run_once()
    page = signed_in.http.get(f"{world.url}/status")
    assert HTMLParser(page.text).css_first(f'tr.mailbox[data-address="{REP}"] button.relink') is None   # syncing
    disconnect = text_of(done, "#disconnect-url")
    action, fields = browser.form(browser.http.get(disconnect))
    assert browser.http.post(action, data=fields).status_code == 200
    world.engine.run_once()

    page = signed_in.http.get(f"{world.url}/status")
    assert HTMLParser(page.text).css_first(f'tr.mailbox[data-address="{REP}"] button.relink') is not None
    action, fields = link_form(page, REP)
    made = signed_in.http.post(action, data=fields)
    assert made.status_code == 200
    link = str(HTMLParser(made.text).css_first("#connect-link").attributes["value"])
    assert browser.connect(link, REP).status_code == 200
    world.engine.run_once()
    assert [b.adapter.address for b in world.engine.mailboxes] == [REP]
