"""POST /events: authenticated, validated, idempotent custom events from a website or forms tool."""

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
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.tables import EventRow

TOKEN = "events-token-0123456789"


@pytest.fixture
def daemon(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Daemon]:
    seed_contacts(sandbox, 2)
    config = {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000"},
              "server": {"port": 0, "events_token": TOKEN}, "sync": {"poll_interval": "1h"},
              "rules": {"scoring": {"custom_events": ["page.visited", "form.submitted"]}}}
    running = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    wait_for(lambda: running.stats.cycles >= 1)
    yield running
    running.stop()


def post(daemon: Daemon, body: object, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"http://127.0.0.1:{daemon.port}/events", json=body, headers=headers)


def stored(daemon: Daemon) -> list[EventRow]:
    with daemon.engine.store.session() as session:
        return list(session.exec(select(EventRow).where(EventRow.source == "api")).all())


def test_an_event_for_a_contact_by_email_is_stored_once_however_often_it_is_posted(daemon: Daemon) -> None:
    event = {"type": "page.visited", "id": "visit-1", "contact": {"email": "Buyer0@customer0.example"},
             "data": {"url": "https://northwind.example/pricing"}}
    first, again = post(daemon, event), post(daemon, [event])
    assert (first.status_code, first.json()["new"]) == (202, 1)
    assert (again.status_code, again.json()["new"]) == (202, 0)
    [row] = stored(daemon)
    assert row.type == "page.visited" and '"url"' in row.data


def test_events_without_the_token_are_refused_and_change_nothing(daemon: Daemon) -> None:
    body = {"type": "form.submitted", "contact": {"email": "buyer0@customer0.example"}}
    assert post(daemon, body, token=None).status_code == 401
    assert post(daemon, body, token="wrong").status_code == 401
    assert stored(daemon) == []


@pytest.mark.parametrize(("body", "says"), [
    ({"type": "Page Visited", "contact": {"email": "buyer0@customer0.example"}}, "type"),
    ({"type": "page.visited", "contact": {}}, "contact needs an id or an email"),
    ({"type": "page.visited", "contact": {"email": "nobody@nowhere.example"}}, "no contact"),
    ({"type": "page.visited", "contact": {"email": "buyer0@customer0.example"}, "extra": 1}, "extra"),
    ([], "send 1 to 100 events"),
])
def test_invalid_events_get_a_clear_422_and_change_nothing(daemon: Daemon, body: object, says: str) -> None:
    answer = post(daemon, body)
    assert answer.status_code == 422
    assert says.lower() in str(answer.json()["detail"]).lower()
    assert stored(daemon) == []


def test_an_undeclared_event_type_is_refused_naming_where_to_declare_it(daemon: Daemon) -> None:
    typo = {"type": "page.vist", "contact": {"email": "buyer0@customer0.example"}}
    refused = post(daemon, [typo, {**typo, "id": "again"}])
    assert refused.status_code == 422
    [detail] = refused.json()["detail"]
    assert detail.startswith("event type 'page.vist' is not declared: declare it in rules.scoring.custom_events")
    assert "page.visited" in detail and "meeting.booked" in detail          # the declared types are listed
    assert stored(daemon) == []
