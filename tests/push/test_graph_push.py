"""Outlook push: Graph change notifications (validation handshake, clientState, lifecycle) drive the daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.world import reply, seed_contacts
from tests.push.test_daemon_push import logged_texts, wait_for
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.demo.world import REP
from threadline.connector.runtime.daemon import Daemon
from threadline.sandbox.server import SandboxServer, free_port

SECRET_STATE = "client-state-secret"


@pytest.fixture
def outlook_daemon(tls_sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[Daemon, SandboxServer, list[str]]]:
    ids, _ = seed_contacts(tls_sandbox, 3)
    tls_sandbox.graph.register_user(REP)
    port = free_port()
    config: dict[str, Any] = demo_config(tls_sandbox, f"sqlite:///{tmp_path / 's.db'}", {"owner_id": "1"},
                                         mailbox="outlook")
    config["sync"]["poll_interval"] = "1h"
    config["server"] = {"port": port}
    config["push"] = {"graph": {"notification_url": f"http://127.0.0.1:{port}/push/graph",
                                "client_state": SECRET_STATE}}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    wait_for(lambda: daemon.stats.cycles >= 1)
    yield daemon, tls_sandbox, ids
    daemon.stop()


def test_subscriptions_are_validated_and_a_reply_lands_within_seconds(outlook_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, sandbox, ids = outlook_daemon
    assert len(sandbox.graph.subscriptions()) == 2             # Inbox and Sent Items, both validated
    sandbox.graph.deliver(REP, reply("buyer0@customer0.example", REP, 1))
    assert wait_for(lambda: len(logged_texts(sandbox, ids)) == 1, seconds=10) < 5


def test_a_notification_with_the_wrong_client_state_is_refused(outlook_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, sandbox, _ = outlook_daemon
    [sub_id, *_] = [s.id for s in sandbox.graph.subscriptions()]
    before = daemon.wakeups.received
    answer = httpx.post(f"http://127.0.0.1:{daemon.port}/push/graph", json={"value": [
        {"subscriptionId": sub_id, "clientState": "guess", "changeType": "created"}]})
    assert answer.status_code == 403 and daemon.wakeups.received == before


def test_missed_and_reauthorization_lifecycle_events_catch_up_and_renew(outlook_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, sandbox, ids = outlook_daemon
    sandbox.graph.deliver(REP, reply("buyer1@customer1.example", REP, 2), notify=False)   # notification lost
    time.sleep(0.5)
    assert logged_texts(sandbox, ids) == []
    [sub, *_] = sandbox.graph.subscriptions()
    sandbox.graph.lifecycle(sub.id, "missed")
    wait_for(lambda: len(logged_texts(sandbox, ids)) == 1)
    # About to lapse (an hour left): reauthorizationRequired must push the expiry out again.
    sub.expires = datetime.now(UTC) + timedelta(hours=1)
    sandbox.graph.lifecycle(sub.id, "reauthorizationRequired")
    wait_for(lambda: next(s for s in sandbox.graph.subscriptions() if s.id == sub.id).expires
             > datetime.now(UTC) + timedelta(days=2))
