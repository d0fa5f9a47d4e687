"""The daemon pulls on push and polls as the fallback: every reply is logged once, whatever happens to pushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.world import email, imap_mailbox_config, reply, seed_contacts
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.demo.world import REP
from threadline.connector.runtime.daemon import Daemon
from threadline.sandbox.server import SandboxServer, free_port

TOPIC = "projects/sandbox/topics/threadline"


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> float:
    """Seconds until `condition` held; fails the test after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"condition not met within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def logged_texts(sandbox: SandboxServer, contact_ids: list[str]) -> list[str]:
    return sorted(e["properties"]["hs_email_text"] for cid in contact_ids for e in sandbox.hubspot.emails_for(cid))


@pytest.fixture
def gmail_daemon(sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[Daemon, list[str]]]:
    """A daemon on the demo's Gmail mailbox with Pub/Sub push, polling only hourly."""
    ids, addresses = seed_contacts(sandbox, 3)
    port = free_port()
    push_url = f"http://127.0.0.1:{port}/push/gmail"
    config: dict[str, Any] = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}",
                                         {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "owner_id": "1"})
    config["sync"]["poll_interval"] = "1h"
    config["server"] = {"host": "127.0.0.1", "port": port}
    config["push"] = {"gmail": {"topic": TOPIC, "audience": push_url,
                                "certs_url": f"{sandbox.url}/oauth2/v1/certs"}, "imap_idle": False}
    sandbox.pubsub.subscribe(TOPIC, push_url, audience=push_url)
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    wait_for(lambda: daemon.stats.cycles >= 1)            # the first full cycle (backfill, watch set)
    yield daemon, ids
    daemon.stop()


def deliver_reply(sandbox: SandboxServer, n: int) -> None:
    sandbox.gmail.deliver(REP, reply(f"buyer{n % 3}@customer{n % 3}.example", REP, n))


def test_a_gmail_reply_reaches_the_crm_within_seconds_by_push(sandbox: SandboxServer, gmail_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, ids = gmail_daemon
    deliver_reply(sandbox, 0)
    latency = wait_for(lambda: len(logged_texts(sandbox, ids)) == 1, seconds=10)
    assert latency < 5
    wait_for(lambda: daemon.stats.push_cycles >= 1, seconds=5)   # counted once that cycle has finished


def test_lost_duplicated_and_reordered_pushes_still_log_each_reply_once(sandbox: SandboxServer, gmail_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, ids = gmail_daemon
    sandbox.pubsub.control.drop = 1                       # the first notification is lost...
    deliver_reply(sandbox, 0)
    time.sleep(1.0)
    assert logged_texts(sandbox, ids) == []               # ...so nothing happened yet (poll is hourly)
    sandbox.pubsub.control.duplicate = 1                  # the next one arrives twice
    deliver_reply(sandbox, 1)
    wait_for(lambda: len(logged_texts(sandbox, ids)) == 2)   # cursor-driven: it also brings the lost one
    sandbox.pubsub.control.hold = True                    # three more, delivered newest first
    for n in (2, 3, 4):
        deliver_reply(sandbox, n)
    sandbox.pubsub.release_held(reverse=True)
    wait_for(lambda: len(logged_texts(sandbox, ids)) == 5)
    time.sleep(0.5)
    assert logged_texts(sandbox, ids) == sorted(f"Thanks, reply number {n} is the new text." for n in range(5))


def test_a_forged_push_is_refused_and_wakes_nothing(sandbox: SandboxServer, gmail_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = gmail_daemon
    before = daemon.wakeups.received
    url = f"http://127.0.0.1:{daemon.port}/push/gmail"
    forged = httpx.post(url, json={"message": {"data": ""}}, headers={
        "Authorization": f"Bearer {sandbox.pubsub.token('https://someone-else.example')}"})
    unsigned = httpx.post(url, json={"message": {"data": ""}})
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert daemon.wakeups.received == before


def test_polling_catches_up_when_every_push_is_lost(sandbox: SandboxServer, tmp_path: Path) -> None:
    ids, _ = seed_contacts(sandbox, 3)
    config: dict[str, Any] = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}",
                                         {"refresh_token": sandbox.gmail.oauth.issue_refresh_token(REP), "owner_id": "1"})
    config["sync"]["poll_interval"] = "1s"
    config["server"] = {"port": 0}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()   # no push configured at all
    try:
        deliver_reply(sandbox, 7)
        assert wait_for(lambda: len(logged_texts(sandbox, ids)) == 1) <= 1.0 + 2.0   # poll interval + 2 s
    finally:
        daemon.stop()


@pytest.mark.dovecot
def test_an_imap_reply_reaches_the_crm_within_seconds_by_idle(sandbox: SandboxServer, imap_account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids, addresses = seed_contacts(sandbox, 1)
    config = {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000", "search_index_lag": "0s"},
              "mailboxes": [imap_mailbox_config(imap_account)], "server": {"port": 0},
              "sync": {"internal_domains": ["northwind.example"], "poll_interval": "1h"}}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    try:
        wait_for(lambda: daemon.stats.cycles >= 1)
        time.sleep(0.5)                                   # the watcher is in IDLE
        imap_account.deliver(reply(addresses[0], imap_account.username, 1))
        assert wait_for(lambda: len(logged_texts(sandbox, ids)) == 1, seconds=10) < 5
        imap_account.deliver(email(addresses[0], imap_account.username, "Re: again", "Second one.", msg_id="<x2@c>"))
        wait_for(lambda: len(logged_texts(sandbox, ids)) == 2, seconds=10)
    finally:
        daemon.stop()


def test_a_signed_hubspot_webhook_pulls_contacts_now_and_an_unsigned_one_is_refused(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    import json

    from sqlmodel import select

    from threadline.connector.web.push.hubspot_webhooks import signature_v3
    from threadline.sync.store.database import Store
    from threadline.sync.store.tables import ContactRow

    port = free_port()
    store_url = f"sqlite:///{tmp_path / 's.db'}"
    config = {"store": {"url": store_url},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000"},
              "server": {"port": port}, "sync": {"poll_interval": "1h"},
              "push": {"hubspot": {"app_secret": "hook-secret"}}}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    try:
        wait_for(lambda: daemon.stats.cycles >= 1)
        sandbox.hubspot.add_contact("new.lead@prospect.example")
        uri = f"http://127.0.0.1:{port}/webhooks/hubspot"
        body = json.dumps([{"subscriptionType": "contact.creation", "objectId": 1}]).encode()
        assert httpx.post(uri, content=body).status_code == 401
        stamp = str(int(time.time() * 1000))
        headers = {"X-HubSpot-Signature-v3": signature_v3("hook-secret", "POST", uri, body, stamp),
                   "X-HubSpot-Request-Timestamp": stamp, "Content-Type": "application/json"}
        assert httpx.post(uri, content=body, headers=headers).status_code == 204
        store = Store(store_url)

        def mirrored() -> bool:
            with store.session() as session:
                return session.exec(select(ContactRow).where(
                    ContactRow.primary_email == "new.lead@prospect.example")).first() is not None
        assert wait_for(mirrored, seconds=10) < 5
    finally:
        daemon.stop()


def test_crm_changes_are_polled_at_the_short_crm_interval_between_full_cycles(sandbox: SandboxServer, tmp_path: Path) -> None:
    from threadline.connector.demo.run import seed_demo
    from threadline.sync.store.database import Store
    from threadline.sync.store.tables import ContactRow

    seeded = seed_demo(sandbox, crm="salesforce")
    config: dict[str, Any] = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce")
    config["sync"].update(poll_interval="1h", crm_poll_interval="1s")
    config["server"] = {"port": 0}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    try:
        wait_for(lambda: daemon.stats.cycles >= 1)
        sandbox.salesforce.add_contact("fresh.lead@prospect.example", last_name="Fresh")
        store = Store(config["store"]["url"])

        def mirrored() -> bool:
            with store.session() as session:
                return session.get(ContactRow, next(
                    r["Id"] for r in sandbox.salesforce.org.rows("Contact")
                    if r["Email"] == "fresh.lead@prospect.example")) is not None
        assert wait_for(mirrored, seconds=10) <= 1.0 + 2.0
    finally:
        daemon.stop()


@pytest.mark.dovecot
def test_imap_idle_is_capped_and_the_mailboxes_past_the_cap_are_polled(  # type: ignore[no-untyped-def]
        sandbox: SandboxServer, dovecot_server, imap_account, tmp_path: Path) -> None:
    """Issue #18: IDLE holds a thread and a connection per mailbox; past push.imap_idle_max they are polled."""
    from tests.fixtures.dovecot import DovecotAccount

    second = DovecotAccount(dovecot_server, dovecot_server.add_user())
    ids, addresses = seed_contacts(sandbox, 2)
    config = {"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": "pat-sandbox-0000", "search_index_lag": "0s"},
              "mailboxes": [imap_mailbox_config(imap_account), imap_mailbox_config(second)], "server": {"port": 0},
              "push": {"imap_idle_max": 1},
              "sync": {"internal_domains": ["northwind.example"], "poll_interval": "2s"}}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    try:
        assert daemon.idle_mailboxes == [imap_account.username]
        ours = {f"threadline idle {imap_account.username}", f"threadline idle {second.username}"}
        assert [t.name for t in threading.enumerate() if t.name in ours] == [f"threadline idle {imap_account.username}"]
        wait_for(lambda: daemon.stats.cycles >= 1)
        second.deliver(reply(addresses[1], second.username, 2))            # past the cap: found by polling
        imap_account.deliver(reply(addresses[0], imap_account.username, 1))   # in IDLE
        wait_for(lambda: len(logged_texts(sandbox, ids)) == 2, seconds=30)
    finally:
        daemon.stop()
