"""The connect link in a real browser (headless chromium), for Google and for Microsoft, on both CRMs: the admin
makes the link with the CLI, the rep opens it, consents on the provider's page and lands back on Threadline; the
engine syncs the new mailbox's replies into the CRM; the rep's disconnect link and the admin's revoke end it, and a
refresh token the provider stops honouring puts the mailbox in `reauthorize` with the command for a fresh link."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser

from tests.web.connect_world import ConnectWorld, connect_world
from threadline.adapters.gmail.consent import stored_name
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.team_mailboxes import mailbox_lines
from threadline.connector.wiring.secret_keys import secret_store
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine


def cli(world: ConnectWorld, tmp_path: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The admin's `threadline ...` against this world's config file."""
    config = tmp_path / "connect.yaml"
    config.write_text(yaml.safe_dump(world.config))
    return subprocess.run([sys.executable, "-m", "threadline", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120,
                          env={"THREADLINE_SECRET_KEY": key, "PATH": "/usr/bin:/bin"})


def synced(engine: SyncEngine, cycles: int = 2) -> int:
    return sum(engine.run_once().matched for _ in range(cycles))


def consent_in_chromium(chromium: Browser, link: str, email: str) -> str:
    """Open the link, press the button, sign in on the provider's page, and return Threadline's answer page text."""
    context = chromium.new_context(ignore_https_errors=True, java_script_enabled=False)   # the sandbox's test CA
    try:
        page = context.new_page()
        page.goto(link)
        assert page.locator("#mailbox").inner_text() == email
        page.click("#go")
        page.wait_for_selector("#allow")
        assert page.locator("#email").input_value() == email                       # the login_hint
        page.click("#allow")
        page.wait_for_selector("#title")
        return page.locator("main").inner_text()
    finally:
        context.close()


@pytest.fixture(params=[("hubspot", "gmail"), ("salesforce", "outlook")], ids=["hubspot-gmail", "salesforce-outlook"])
def combination(request: pytest.FixtureRequest, tls_sandbox: SandboxServer, tmp_path: Path,
                key: str) -> Iterator[tuple[ConnectWorld, str]]:
    """Each CRM with the other mailbox kind: the world, and the provider its reps connect with."""
    crm, mailbox = request.param
    with connect_world(tls_sandbox, tmp_path, crm=crm, mailbox=mailbox) as world:
        yield world, mailbox


def test_a_rep_connects_in_chromium_and_the_mailbox_syncs_until_disconnected(
        chromium: Browser, combination: tuple[ConnectWorld, str], tmp_path: Path, key: str) -> None:
    world, mailbox = combination
    assert synced(world.engine) == 0                                    # no mailbox yet
    made = cli(world, tmp_path, key, "connect", "link", REP, "--provider", mailbox, "--expires", "2d")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{world.url}/connect/")

    answer = consent_in_chromium(chromium, link, REP)
    assert "is connected" in answer and f"{world.url}/disconnect/" in answer

    assert synced(world.engine) > 0                                     # the rep's replies reach the CRM
    assert synced(world.engine) == 0                                    # and only once
    listed = cli(world, tmp_path, key, "mailboxes", "--json")
    assert listed.returncode == 0, listed.stderr
    line = next(entry for entry in json.loads(listed.stdout) if entry["address"] == REP)
    assert line["source"] == "connected" and line["state"] == "syncing" and line["owner_id"]

    revoked = cli(world, tmp_path, key, "connect", "revoke", REP)
    assert revoked.returncode == 0, revoked.stderr
    world.engine.run_once()
    assert world.engine.mailboxes == []
    assert cli(world, tmp_path, key, "connect", "disconnect-link", REP).returncode == 2   # not connected now


def cut_off(sandbox: SandboxServer, world: ConnectWorld, mailbox: str) -> None:
    """The rep's access ends at the provider (they removed the app, changed their password, an admin blocked it)."""
    if mailbox == "gmail":
        tokens = secret_store(world.settings, world.engine.store)
        assert tokens is not None
        sandbox.gmail.oauth.revoke_refresh_token(json.loads(tokens.get(stored_name(REP)) or "{}")["refresh_token"])
        sandbox.gmail.oauth.expire_access_tokens()
    else:
        user = sandbox.graph.identity.user(REP)
        assert user is not None
        sandbox.graph.identity.revoke_sign_in_sessions(user.id)
        sandbox.graph.identity.expire_access_tokens()


def test_a_refresh_token_the_provider_stops_honouring_puts_the_mailbox_in_reauthorize(
        chromium: Browser, combination: tuple[ConnectWorld, str], tls_sandbox: SandboxServer, tmp_path: Path,
        key: str) -> None:
    world, mailbox = combination
    assert "is connected" in consent_in_chromium(chromium, world.link(REP), REP)
    assert synced(world.engine) > 0
    cut_off(tls_sandbox, world, mailbox)
    world.engine.run_once()
    line = {line.address: line for line in mailbox_lines(world.settings)}[REP]
    assert line.state == "reauthorize", line
    assert f"threadline connect link {REP} --provider {mailbox}" in line.detail and "cursor is kept" in line.detail
    status = cli(world, tmp_path, key, "status", "--json")
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    assert "threadline connect link" in reported["reauthorize"][f"mailbox:{REP}"]
    assert [m["state"] for m in reported["mailboxes"] if m["address"] == REP] == ["reauthorize"]

    assert "is connected" in consent_in_chromium(chromium, world.link(REP), REP)   # a fresh link
    world.engine.run_once()
    world.engine.run_once()
    line = {line.address: line for line in mailbox_lines(world.settings)}[REP]
    assert line.state == "syncing", line
