"""Connect links (issue #17, part 2): a rep connects their own mailbox, the engine syncs it, the rep or the admin
disconnects it. Real HTTP end to end: Threadline's web app on a port, the sandbox's Google and Microsoft sign-in
pages, the providers' token endpoints, the engine's cycles. The browser is httpx here (the security cases) and
headless chromium in test_connect_in_chromium.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import select
from structlog.testing import capture_logs

from tests.web.connect_world import Browser, ConnectWorld, connect_world, text_of
from tests.web.world import ADMIN_TOKEN, served
from threadline.adapters.gmail.consent import stored_name
from threadline.config.models import GmailMailbox
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.team_mailboxes import mailbox_lines
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.consent import LinkRefused, make_connect_link
from threadline.connector.wiring.secret_keys import secret_store
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import ConnectLinkRow, CursorRow, FoundMailboxRow, SecretRow


@pytest.fixture
def gmail_world(tls_sandbox: SandboxServer, tmp_path: Path, key: str) -> Iterator[ConnectWorld]:
    with connect_world(tls_sandbox, tmp_path) as world:
        yield world


def logged(world: ConnectWorld) -> list[str]:
    hubspot = world.sandbox.hubspot
    return sorted(e["properties"]["hs_email_subject"] for c in hubspot.contacts for e in hubspot.emails_for(str(c.id)))


def test_a_rep_connects_gmail_through_the_link_and_their_replies_sync(gmail_world: ConnectWorld,
                                                                       browser: Browser) -> None:
    world = gmail_world
    world.engine.run_once()
    assert world.engine.mailboxes == [] and logged(world) == []
    link = world.link(REP)
    assert link.startswith(f"{world.url}/connect/")

    page = browser.http.get(link)
    assert page.status_code == 200 and text_of(page, "#mailbox") == REP
    assert "never the quoted history" in text_of(page, "#reads") and "read access only" in text_of(page, "#reads")
    assert "Mail from people who are not in the CRM" in text_of(page, "#never")
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    action, fields = browser.form(page)
    start = browser.http.post(action, data=fields)
    assert start.status_code == 303
    consent_url = start.headers["location"]
    asked = dict(parse_qsl(urlsplit(consent_url).query))
    assert asked["redirect_uri"] == f"{world.url}/connect/callback/gmail"          # exactly the registered one
    assert asked["access_type"] == "offline" and asked["code_challenge_method"] == "S256"
    assert asked["scope"] == "https://www.googleapis.com/auth/gmail.readonly"      # no sequences: read-only
    assert asked["login_hint"] == REP

    done = browser.http.get(browser.consent(consent_url, REP))
    assert done.status_code == 200, done.text
    assert "is connected" in text_of(done, "#done")
    assert text_of(done, "#disconnect-url").startswith(f"{world.url}/disconnect/")

    world.engine.run_once()
    world.engine.run_once()
    assert [b.adapter.address for b in world.engine.mailboxes] == [REP]
    first = logged(world)
    assert first, "the rep's replies were not logged"
    world.engine.run_once()
    assert logged(world) == first                                              # nothing logged twice
    lines = {line.address: line for line in mailbox_lines(world.settings)}
    assert lines[REP].source == "connected" and lines[REP].state == "syncing"
    assert lines[REP].owner_id == world.seeded["owner_id"]                     # learnt from the CRM's owners

    again = browser.http.get(link)                                              # single use
    assert again.status_code == 404 and "already been used" in text_of(again, "#problem")


def test_the_refresh_token_is_stored_encrypted_and_revoke_deletes_it_at_google_too(gmail_world: ConnectWorld,
                                                                                  browser: Browser) -> None:
    world = gmail_world
    browser.connect(world.link(REP), REP)
    tokens = secret_store(world.settings, world.engine.store)
    assert tokens is not None
    stored = json.loads(tokens.get(stored_name(REP)) or "{}")
    refresh = stored["refresh_token"]
    with world.engine.store.session() as session:
        rows = session.exec(select(SecretRow)).all()
        assert rows and all(refresh.encode() not in bytes(row.ciphertext) for row in rows)
        assert session.exec(select(ConnectLinkRow)).all()[0].state_digest is not None
    world.engine.run_once()
    assert [b.adapter.address for b in world.engine.mailboxes] == [REP]

    from threadline.connector.wiring.consent import consent_flows, disconnect_mailbox

    assert disconnect_mailbox(world.engine.store, consent_flows(world.settings, tokens), REP, "revoked by the admin")
    assert tokens.get(stored_name(REP)) is None
    refused = httpx.post(f"{world.sandbox.url}/token", verify=str(world.sandbox.tls.ca_cert), data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": world.sandbox.settings.google_client_id,
        "client_secret": world.sandbox.settings.google_client_secret})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    world.engine.run_once()
    assert world.engine.mailboxes == []
    with world.engine.store.session() as session:
        row = session.get(FoundMailboxRow, REP)
        assert row is not None and not row.active and "revoked by the admin" in row.reason
        assert session.get(CursorRow, f"mailbox:{REP}") is not None               # the cursor is kept
    line = {line.address: line for line in mailbox_lines(world.settings)}[REP]
    assert line.state == "stopped" and "connect link" in line.detail


def test_signing_in_as_someone_else_keeps_nothing_and_the_link_still_works(gmail_world: ConnectWorld,
                                                                           browser: Browser) -> None:
    world = gmail_world
    world.sandbox.gmail.deliver("mallory@northwind.example", b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n")
    link = world.link(REP)
    wrong = browser.connect(link, "mallory@northwind.example")
    assert wrong.status_code == 403
    assert "You signed in as mallory@northwind.example, but this link is for" in text_of(wrong, "#problem")
    tokens = secret_store(world.settings, world.engine.store)
    assert tokens is not None and tokens.get(stored_name(REP)) is None and tokens.names("connect/") == []
    with world.engine.store.session() as session:
        assert session.exec(select(FoundMailboxRow)).all() == []

    right = browser.connect(link, REP)                                 # the same link, the right account
    assert right.status_code == 200 and "is connected" in text_of(right, "#done")


def test_an_allowed_alias_may_sign_in(gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    world.sandbox.gmail.deliver("alex.m@northwind.example", b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n")
    done = browser.connect(world.link(REP, aliases=["Alex.M@northwind.example"]), "alex.m@northwind.example")
    assert done.status_code == 200 and "is connected" in text_of(done, "#done")


def test_cancel_on_the_consent_screen_says_so_and_leaves_the_link_usable(gmail_world: ConnectWorld,
                                                                         browser: Browser) -> None:
    world = gmail_world
    link = world.link(REP)
    declined = browser.connect(link, REP, decision="deny")
    assert declined.status_code == 400 and "chose not to allow" in text_of(declined, "#problem")
    assert browser.connect(link, REP).status_code == 200


def test_expired_and_unknown_links_are_refused(gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    expired = world.link(REP, lifetime=timedelta(microseconds=1))
    page = browser.http.get(expired)
    assert page.status_code == 404 and "expired" in text_of(page, "#problem")
    assert browser.http.get(f"{world.url}/connect/not-a-link").status_code == 404


def test_the_button_needs_the_pages_csrf_value_and_the_same_origin(gmail_world: ConnectWorld,
                                                                   browser: Browser) -> None:
    world = gmail_world
    link = world.link(REP)
    page = browser.http.get(link)
    action, fields = browser.form(page)
    forged = httpx.post(action, data=fields)                                   # another browser: no cookie
    assert forged.status_code == 403
    assert browser.http.post(action, data={"csrf": "guess"}).status_code == 403
    assert browser.http.post(action, data=fields, headers={"Origin": "https://evil.example"}).status_code == 403
    with world.engine.store.session() as session:
        assert session.exec(select(ConnectLinkRow)).one().state_digest is None    # nothing started
    assert browser.http.post(action, data=fields).status_code == 303


def test_the_callback_checks_state_browser_and_single_use(gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    start = browser.press_connect(world.link(REP))
    callback = browser.consent(start.headers["location"], REP)
    query = dict(parse_qsl(urlsplit(callback).query))

    forged_state = browser.http.get(f"{world.url}/connect/callback/gmail", params={**query, "state": "forged"})
    assert forged_state.status_code == 400
    other_browser = httpx.get(callback)                                        # the code, without the cookie
    assert other_browser.status_code == 400 and "same browser" in text_of(other_browser, "#problem")
    wrong_provider = browser.http.get(f"{world.url}/connect/callback/outlook", params=query)
    assert wrong_provider.status_code == 400

    assert browser.http.get(callback).status_code == 200
    replay = browser.http.get(callback)
    assert replay.status_code == 400                                           # the state was single use


def test_a_second_replica_finishes_what_the_first_started(gmail_world: ConnectWorld, browser: Browser,
                                                          tmp_path: Path) -> None:
    """The flow's state lives in the store: the provider may send the rep back to any replica."""
    world = gmail_world
    start = browser.press_connect(world.link(REP))
    callback = browser.consent(start.headers["location"], REP)
    other = build_web_app(world.settings, Wakeups(), store=world.engine.store, policy=world.engine.policy)
    with served(other) as replica:
        done = browser.http.get(callback.replace(world.url, replica))
    assert done.status_code == 200 and "is connected" in text_of(done, "#done")


@pytest.mark.parametrize(("crm", "mailbox"), [("hubspot", "gmail"), ("salesforce", "outlook")])
def test_no_code_state_token_or_link_reaches_a_log_line_or_page(
        tls_sandbox: SandboxServer, tmp_path: Path, key: str, browser: Browser, caplog: pytest.LogCaptureFixture,
        crm: str, mailbox: str) -> None:
    """Every log line, ours (structlog) and the libraries' (stdlib logging at DEBUG: MSAL, oauthlib, httpx)."""
    caplog.set_level(logging.DEBUG)
    with connect_world(tls_sandbox, tmp_path, crm=crm, mailbox=mailbox) as world:
        link = world.link(REP)
        with capture_logs() as events:
            start = browser.press_connect(link)
            callback = browser.consent(start.headers["location"], REP)
            done = browser.http.get(callback)
            # The rep's browser (httpx, on this thread) logs its own URLs; Threadline's server side runs on the
            # server's threads, and its sync on this thread from here on.
            browser_side = {id(r) for r in caplog.records if r.thread == threading.get_ident()}
            world.engine.run_once()
        assert done.status_code == 200, done.text
        query = dict(parse_qsl(urlsplit(callback).query))
        tokens = secret_store(world.settings, world.engine.store)
        assert tokens is not None
        s = tls_sandbox.settings
        if mailbox == "gmail":
            stored = [json.loads(tokens.get(stored_name(REP)) or "{}")["refresh_token"], s.google_client_secret]
        else:
            cache = json.loads(tokens.get(f"outlook/{REP}/delegated-tokens") or "{}")
            stored = [t["secret"] for kind in ("RefreshToken", "AccessToken", "IdToken")
                      for t in cache.get(kind, {}).values()] + [s.graph_client_secret]
        secrets = [query["code"], query["state"], link.rsplit("/", 1)[1], *stored]
        assert len(secrets) >= 5 and all(secrets)
        logged_text = json.dumps(events, default=str) + "\n".join(
            r.getMessage() for r in caplog.records if id(r) not in browser_side)
        assert caplog.records, "nothing was logged: the test would prove nothing"
        assert any(e.get("event") == "connect.connected" for e in events)
        for secret in secrets:
            assert secret not in logged_text
            assert secret not in done.text


def test_the_admin_pages_stay_closed_to_a_rep(gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    browser.connect(world.link(REP), REP)
    assert browser.http.get(f"{world.url}/status").status_code == 303           # to /login
    assert browser.http.get(f"{world.url}/api/status").status_code == 401
    assert browser.http.get(f"{world.url}/metrics").status_code == 401
    assert httpx.get(f"{world.url}/api/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_the_rep_disconnects_with_their_own_link(gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    done = browser.connect(world.link(REP), REP)
    disconnect = text_of(done, "#disconnect-url")
    world.engine.run_once()
    page = browser.http.get(disconnect)
    assert page.status_code == 200 and REP in page.text
    action, fields = browser.form(page)
    assert httpx.post(action, data=fields).status_code == 403                  # CSRF: the page's own browser only
    gone = browser.http.post(action, data=fields)
    assert gone.status_code == 200 and "is disconnected" in text_of(gone, "#done")
    world.engine.run_once()
    assert world.engine.mailboxes == []
    assert browser.http.get(disconnect).status_code == 404                     # single use

    relink = browser.connect(world.link(REP), REP)                              # reconnect: resumes
    assert relink.status_code == 200
    world.engine.run_once()
    assert [b.adapter.address for b in world.engine.mailboxes] == [REP]


def test_links_are_refused_for_an_unconfigured_provider_or_an_explicit_mailbox(gmail_world: ConnectWorld) -> None:
    with pytest.raises(LinkRefused, match="connect.outlook is not configured"):
        gmail_world.link(REP, provider="outlook")
    with pytest.raises(LinkRefused, match="not a connected mailbox"):
        gmail_world.link(REP, purpose="disconnect")
    explicit = gmail_world.settings.model_copy(update={"mailboxes": [GmailMailbox(
        kind="gmail", address=REP, client_id="c", client_secret=SecretStr("s"), refresh_token=SecretStr("r"))]})
    with pytest.raises(LinkRefused, match="configured under mailboxes"):
        make_connect_link(explicit, gmail_world.engine.store, REP, "gmail")


def test_metrics_count_the_team_by_source_and_state_and_the_connected_mailboxs_calls(
        gmail_world: ConnectWorld, browser: Browser) -> None:
    world = gmail_world
    browser.connect(world.link(REP), REP)
    world.engine.run_once()
    metrics = httpx.get(f"{world.url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    assert 'threadline_team_mailboxes{source="connected",state="syncing"} 1.0' in metrics
    assert f'threadline_provider_calls_total{{mailbox="{REP}",provider="gmail"}}' in metrics


def test_check_names_the_redirect_uri_to_register_and_the_missing_key(gmail_world: ConnectWorld) -> None:
    from threadline.connector.cli.checks import connect_checks

    settings = gmail_world.settings
    [uri, key] = connect_checks(settings, keys_configured=True)
    assert uri.ok and f"register exactly {gmail_world.url}/connect/callback/gmail" in uri.detail and key.ok
    public = settings.model_copy(update={"server": settings.server.model_copy(
        update={"public_url": "http://threadline.acme.example"})})
    [uri, key] = connect_checks(public, keys_configured=False)
    assert not uri.ok and "not https" in uri.detail
    assert not key.ok and "THREADLINE_SECRET_KEY" in key.detail
