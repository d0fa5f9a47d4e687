"""Unsubscribe links: signed per contact; GET only shows a page, POST (RFC 8058 one-click) unsubscribes once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from tests.engine.world import seed_contacts
from tests.push.test_daemon_push import wait_for
from threadline.config.loading import parse_settings
from threadline.connector.runtime.daemon import Daemon
from threadline.rules.sequences.unsubscribe_links import make_token, read_token
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import ContactRow, EventRow, OutboxRow

SECRET = "unsubscribe-secret-0123"


def test_tokens_name_their_contact_and_cannot_be_forged() -> None:
    token = make_token(SECRET, "1001")
    assert read_token(SECRET, token) == "1001"
    assert read_token("other-secret", token) is None
    assert read_token(SECRET, make_token("other-secret", "1002")) is None
    assert read_token(SECRET, "garbage") is None


@pytest.fixture
def daemon(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Daemon]:
    seed_contacts(sandbox, 1)
    config = {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000"},
              "server": {"port": 0, "unsubscribe_secret": SECRET}, "sync": {"poll_interval": "1h"},
              "rules": {"unsubscribe_field": "hs_email_optout"}}
    running = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    wait_for(lambda: running.stats.cycles >= 1)
    yield running
    running.stop()


def test_one_click_post_unsubscribes_once_and_get_changes_nothing(daemon: Daemon) -> None:
    with daemon.engine.store.session() as session:
        contact = session.exec(select(ContactRow)).first()
    assert contact is not None
    url = f"http://127.0.0.1:{daemon.port}/unsubscribe/{make_token(SECRET, contact.crm_id)}"

    def unsubscribes() -> tuple[int, int]:
        with daemon.engine.store.session() as session:
            events = session.exec(select(EventRow).where(EventRow.type == "unsubscribed")).all()
            writes = session.exec(select(OutboxRow).where(OutboxRow.kind == "set_fields")).all()
            return len(events), len(writes)

    page = httpx.get(url)
    assert page.status_code == 200 and "<form" in page.text and unsubscribes() == (0, 0)
    for _ in range(2):
        answer = httpx.post(url, content="List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
    assert unsubscribes() == (1, 1)
    assert httpx.post(f"http://127.0.0.1:{daemon.port}/unsubscribe/forged.token").status_code == 404
