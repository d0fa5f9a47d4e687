"""Push covers every mailbox the daemon syncs, not only `mailboxes:` (issue #17): a mailbox found from the CRM's
owners gets a Gmail watch or Graph subscriptions when the engine takes it on, and loses them when it is let go.

Through the real daemon, HTTP both ways, and the sandbox's Gmail + Pub/Sub, HubSpot, Salesforce and Graph. Polling
is hourly, so anything that lands within seconds came by push (or by the wakeup a CRM webhook would raise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_team_discovery import DOMAIN, logged, owner, team_config
from tests.engine.world import reply
from tests.push.test_daemon_push import TOPIC, wait_for
from tests.push.test_graph_push import SECRET_STATE
from threadline.config.loading import parse_settings
from threadline.connector.demo.world import REP
from threadline.connector.runtime.daemon import Daemon
from threadline.sandbox.server import SandboxServer, free_port
from threadline.sync.engine import CRM_SOURCE

ANN = f"ann@{DOMAIN}"


def test_a_gmail_mailbox_found_from_a_crm_owner_is_watched_and_its_push_wakes_a_pull(
        sandbox: SandboxServer, tmp_path: Path) -> None:
    owner(sandbox, "ann")
    buyer = sandbox.hubspot.add_contact("buyer@customer.example", firstname="Pat")
    sandbox.gmail.deliver(ANN, reply("buyer@customer.example", ANN, 1), ["INBOX"])
    port = free_port()
    push_url = f"http://127.0.0.1:{port}/push/gmail"
    config: dict[str, Any] = team_config(sandbox, tmp_path)
    config["sync"]["poll_interval"] = "1h"
    config["server"] = {"host": "127.0.0.1", "port": port}
    config["push"] = {"gmail": {"topic": TOPIC, "audience": push_url, "certs_url": f"{sandbox.url}/oauth2/v1/certs"},
                      "imap_idle": False}
    sandbox.pubsub.subscribe(TOPIC, push_url, audience=push_url)
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    try:
        assert sandbox.gmail.mailboxes.of(ANN).watch is None        # nothing configured: nothing watched at start
        # The first cycle finds Ann from the HubSpot owners and pulls her mailbox; the reconciliation after it
        # watches it, then pulls it once more (the catch-up cycle) for mail that came in between.
        wait_for(lambda: sandbox.gmail.mailboxes.of(ANN).watch is not None)
        watch = sandbox.gmail.mailboxes.of(ANN).watch
        assert watch is not None and watch["topicName"] == TOPIC
        assert daemon.watched == {ANN}
        wait_for(lambda: logged(sandbox, buyer) == ["Re: Proposal 1"], seconds=30)   # the drainer logs it

        woken = daemon.wakeups.received
        sandbox.gmail.deliver(ANN, reply("buyer@customer.example", ANN, 2), ["INBOX"])
        # The poll interval is an hour: a reply that lands at all came by push (latency: bench/push_latency.py).
        wait_for(lambda: logged(sandbox, buyer) == ["Re: Proposal 1", "Re: Proposal 2"], seconds=30)
        assert (push_url, 204) in sandbox.pubsub.delivered
        assert daemon.wakeups.received > woken          # the endpoint knew Ann: it woke her mailbox
    finally:
        daemon.stop()


@dataclass
class OutlookTeam:
    daemon: Daemon
    sandbox: SandboxServer
    ann_id: str                                   # Ann's Salesforce User id
    buyer: str                                    # a Contact both reps hear from

    def subscribed_to(self, address: str) -> set[str]:
        """The ids of the subscriptions Graph holds on `address`'s folders."""
        return {s.id for s in self.sandbox.graph.subscriptions() if s.resource.lower().startswith(f"users/{address}/")}

    def known_for(self, address: str) -> set[str]:
        """The ids of the subscriptions the daemon maps to `address`."""
        return {sid for sid, owner in self.daemon.graph_subscriptions.items() if owner == address}


@pytest.fixture
def outlook_team(tls_sandbox: SandboxServer, tmp_path: Path) -> Iterator[OutlookTeam]:
    """A daemon with Graph push and no configured mailbox: Outlook mailboxes for the Salesforce Users in the domain
    (Ann, and Alex the demo's rep), as in test_salesforce_users_get_outlook_mailboxes_through_an_app_registration."""
    from threadline.connector.demo.run import demo_config, seed_demo

    sandbox = tls_sandbox
    seeded = seed_demo(sandbox, crm="salesforce", mailbox="outlook")
    ann = sandbox.salesforce.add_user(ANN, first_name="Ann", email=ANN)
    sandbox.graph.register_user(ANN)
    buyer = sandbox.salesforce.add_contact("buyer@customer.example", first_name="Pat", last_name="Buyer")
    port = free_port()
    config: dict[str, Any] = demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce",
                                         mailbox="outlook")
    template = config["mailboxes"].pop()                     # the demo's Outlook entry: its app registration
    config["mailbox_sources"] = [{"kind": "outlook", "domains": [DOMAIN], **{
        k: template[k] for k in ("tenant", "client_id", "client_secret", "authority_host", "base_url", "ca_file")}}]
    config["sync"].update(internal_domains=[DOMAIN], poll_interval="1h")
    config["server"] = {"port": port}
    config["push"] = {"graph": {"notification_url": f"http://127.0.0.1:{port}/push/graph",
                                "client_state": SECRET_STATE}}
    daemon = Daemon(parse_settings(config, tmp_path / "t.yaml", env={})).start()
    team = OutlookTeam(daemon, sandbox, ann, buyer)
    try:
        assert sandbox.graph.subscriptions() == []            # nothing configured: no subscription at start
        # Both found on the first cycle, subscribed by the reconciliation after it (Inbox and Sent Items each).
        wait_for(lambda: len(team.subscribed_to(ANN)) == 2 and len(team.subscribed_to(REP)) == 2)
        wait_for(lambda: daemon.stats.cycles >= 2)            # the catch-up cycle after subscribing
        yield team
    finally:
        daemon.stop()


def test_an_outlook_mailbox_found_from_salesforce_users_is_subscribed_until_the_user_is_deactivated(
        outlook_team: OutlookTeam) -> None:
    team, sandbox, org = outlook_team, outlook_team.sandbox, outlook_team.sandbox.salesforce
    assert team.daemon.subscribed == {ANN, REP}
    assert team.known_for(ANN) == team.subscribed_to(ANN)

    sandbox.graph.deliver(ANN, reply("buyer@customer.example", ANN, 7), "inbox")    # notified by Graph
    wait_for(lambda: "Re: Proposal 7" in " ".join(str(t.get("Subject")) for t in org.tasks_for(team.buyer)),
             seconds=30)                                   # the poll interval is an hour: this came by push

    with org.org.lock:
        org.org.update("User", team.ann_id, {"IsActive": False})   # Ann leaves
    team.daemon.wakeups.wake(CRM_SOURCE)                  # as a CRM webhook would: pull the CRM (and its Users) now
    wait_for(lambda: team.subscribed_to(ANN) == set())    # her subscriptions are deleted at Graph
    assert team.known_for(ANN) == set() and team.daemon.subscribed == {REP}
    assert len(team.subscribed_to(REP)) == 2 and team.known_for(REP) == team.subscribed_to(REP)


def test_a_removed_subscription_of_a_found_mailbox_is_made_again_without_a_duplicate(
        outlook_team: OutlookTeam) -> None:
    team = outlook_team
    before = team.subscribed_to(ANN)
    removed = sorted(before)[0]
    team.sandbox.graph.lifecycle(removed, "subscriptionRemoved")
    # After the cycle the event wakes, her other folder's subscription is deleted and both are made anew.
    wait_for(lambda: len(team.known_for(ANN)) == 2 and not team.known_for(ANN) & before)
    # The simulator still holds the removed one (Graph would not); the other old one is gone.
    assert team.subscribed_to(ANN) == team.known_for(ANN) | {removed}


def test_a_subscription_graph_deleted_unrenewed_is_made_again_at_the_renewal(outlook_team: OutlookTeam) -> None:
    """A subscription that expired unrenewed (every replica down past its expiry) answers the renewal 404: the
    mailbox is subscribed anew, instead of falling back to polling for good."""
    team, sandbox = outlook_team, outlook_team.sandbox
    before = team.subscribed_to(ANN)
    expired = sorted(before)[0]
    sandbox.graph.expire_subscription(expired)
    team.daemon.renew_push()
    wait_for(lambda: len(team.known_for(ANN)) == 2 and not team.known_for(ANN) & before)
    live = {s.id for s in sandbox.graph.subscriptions() if s.resource.lower().startswith(f"users/{ANN}/")
            and s.expires > datetime.now(UTC)}
    assert live == team.known_for(ANN)                               # both folders, no duplicate
    sandbox.graph.deliver(ANN, reply("buyer@customer.example", ANN, 8), "inbox")
    wait_for(lambda: "Re: Proposal 8" in " ".join(str(t.get("Subject")) for t in sandbox.salesforce.tasks_for(
        team.buyer)), seconds=30)                                    # by push: the poll interval is an hour
