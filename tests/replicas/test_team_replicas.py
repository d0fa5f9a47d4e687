"""Connect a whole team from the CRM's owners with two replicas on one store (issue #17, part 2).

Two engines, built with `build_engine` from the same settings (one HubSpot, one Gmail `mailbox_sources` entry with
a service account), run over one store: a SQLite file (cycles taken in turn) and PostgreSQL (cycles taken in turn,
then both replicas in threads at once). The CRM pull is a leased unit, so one replica reads the owners; the other
must follow the set through the store (`found_mailboxes`):

* an owner added in the CRM gets a mailbox on BOTH replicas from their next cycle, including the replica that did
  not read the owners; every reply in every owner's mailbox is logged on HubSpot exactly once;
* an archived owner's mailbox stops on both replicas (FoundMailboxRow inactive with its reason, cursor kept);
  restored, it resumes from its cursor (no backfill, no resync) and logs only what came in while it was stopped;
* running at once, the replicas split the mailbox pulls: each mailbox leased by one replica, pulled once a round,
  and the activities logged are exactly the replies delivered.

Which replica read the owners is read off the sandbox's request counters (GET /crm/v3/owners); the CRM rests for an
hour between pulls (`crm_poll_interval`), so it is pulled again only when a push marks it due (`mark_due`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.engine.world import reply
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.mailboxes.found import STOPPED
from threadline.sync.store.tables import CursorRow, FoundMailboxRow

DOMAIN = "northwind.example"
OWNERS_ROUTE = "hubspot GET owners"          # one list_owners = two requests (active owners, then archived ones)


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


class Team:
    """The sandbox's HubSpot owners and their buyers, the replies delivered to each owner's Gmail mailbox."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.owners: dict[str, str] = {}            # name -> HubSpot owner id
        self.buyers: dict[str, str] = {}            # name -> the HubSpot contact who writes to that owner
        self.sent: dict[str, list[str]] = {}        # buyer contact id -> subjects delivered
        self._numbers = iter(range(1, 10_000))

    def hire(self, name: str) -> str:
        """A new HubSpot owner in the domain, and a buyer (a HubSpot contact) who writes to them."""
        self.owners[name] = self.sandbox.hubspot.add_owner(address(name), first_name=name.title())
        self.buyers[name] = self.sandbox.hubspot.add_contact(f"buyer-{name}@customer.example", firstname="Pat")
        return self.owners[name]

    def set_archived(self, name: str, archived: bool) -> None:
        for entry in self.sandbox.hubspot.crm.owners:
            if entry["id"] == self.owners[name]:
                entry["archived"] = archived

    def deliver(self, name: str) -> str:
        """A new reply from `name`'s buyer in `name`'s inbox; returns its subject."""
        n = next(self._numbers)
        self.sandbox.gmail.deliver(address(name), reply(f"buyer-{name}@customer.example", address(name), n),
                                   ["INBOX", "UNREAD"])
        subject = f"Re: Proposal {n}"
        self.sent.setdefault(self.buyers[name], []).append(subject)
        return subject

    def logged(self) -> dict[str, Counter[str]]:
        """Email activities on each buyer in HubSpot: subject -> copies."""
        return {cid: Counter(e["properties"]["hs_email_subject"] for e in self.sandbox.hubspot.emails_for(cid))
                for cid in self.buyers.values()}

    def expected(self, *, leaving_out: tuple[str, ...] = ()) -> dict[str, Counter[str]]:
        """Every delivered reply once, but those in `leaving_out` (subjects not yet to be logged)."""
        return {cid: Counter({s: 1 for s in self.sent.get(cid, []) if s not in leaving_out})
                for cid in self.buyers.values()}

    def requests(self, route: str) -> int:
        return int(self.sandbox.stats.by_route[route])


def team_settings(sandbox: SandboxServer, tmp_path: Path, store_url: str, **sync: Any) -> Settings:
    account = tmp_path / "gmail-sa.json"
    account.write_text(json.dumps(sandbox.gmail.register_service_account(sandbox.url)))
    config = {"store": {"url": store_url},
              "crm": {"kind": "hubspot", "base_url": sandbox.url, "token": sandbox.settings.hubspot_token,
                      "search_index_lag": "0s"},
              "mailboxes": [],
              "mailbox_sources": [{"kind": "gmail", "from": "crm_owners", "domains": [DOMAIN],
                                   "service_account_file": str(account), "base_url": sandbox.url,
                                   "token_uri": f"{sandbox.url}/token"}],
              "sync": {"internal_domains": [DOMAIN], "backfill_days": 30, "crm_poll_interval": "1h", **sync}}
    return parse_settings(config, tmp_path / "threadline.yaml", env={})


@pytest.fixture
def team(sandbox: SandboxServer) -> Team:
    return Team(sandbox)


@contextmanager
def replicas(settings: Settings) -> Iterator[tuple[SyncEngine, SyncEngine]]:
    a, b = build_engine(settings), build_engine(settings)
    assert a.owner != b.owner and a.store is not b.store       # two replicas: own owner id, own connection pool
    try:
        yield a, b
    finally:
        for engine in (a, b):
            engine.close()
            engine.store.dispose()


def addresses(engine: SyncEngine) -> list[str]:
    return sorted(b.adapter.address for b in engine.mailboxes)


def found(engine: SyncEngine, name: str) -> FoundMailboxRow:
    with engine.store.session() as session:
        row = session.get(FoundMailboxRow, address(name))
    assert row is not None, name
    return row


def cursor(engine: SyncEngine, name: str) -> CursorRow | None:
    with engine.store.session() as session:
        return session.get(CursorRow, f"mailbox:{address(name)}")


def cycle(engine: SyncEngine, team: Team) -> tuple[bool, list[str]]:
    """One daemon-style cycle (due sources only): (whether this replica read the CRM's owners, mailboxes pulled;
    with poll_interval 0s a mailbox is due again at once, so a cycle may pull it twice)."""
    before = team.requests(OWNERS_ROUTE)
    summary = engine.run_once(due_only=True)
    assert summary.errors == [], summary.errors
    return team.requests(OWNERS_ROUTE) > before, sorted({m.mailbox for m in summary.mailboxes})


# -- in turn, on SQLite and on PostgreSQL ----------------------------------------------------------------------------

def test_two_replicas_follow_owners_added_archived_and_restored(team: Team, tmp_path: Path, store_url: str) -> None:
    """Cycles in turn; a mailbox rests 0 s, so every known mailbox is pulled by whichever replica runs."""
    for name in ("ann", "ben"):
        team.hire(name)
        team.deliver(name)
    settings = team_settings(team.sandbox, tmp_path, store_url, poll_interval="0s")
    with replicas(settings) as (a, b):
        # First cycles: A reads the owners (the CRM unit is new, so due) and finds Ann and Ben; B does not read
        # them (the CRM rests an hour) and still gets both mailboxes, from the store.
        assert cycle(a, team) == (True, [address("ann"), address("ben")])
        assert addresses(a) == [address("ann"), address("ben")]
        read, _ = cycle(b, team)
        assert not read and addresses(b) == [address("ann"), address("ben")]
        assert {bb.adapter.address: bb.owner_id for bb in b.mailboxes} == {
            address("ann"): team.owners["ann"], address("ben"): team.owners["ben"]}
        assert team.logged() == team.expected()

        # An owner joins; a push marks the CRM due (received by B), A happens to pull it. B follows from the store.
        team.hire("eve")
        team.deliver("eve")
        team.deliver("ben")
        b.mark_due("crm")
        assert cycle(a, team)[0] and address("eve") in addresses(a)
        team.deliver("eve")                                   # pulled by B, which never read the owners
        team.deliver("ann")
        read, pulled = cycle(b, team)
        assert not read and address("eve") in pulled
        assert addresses(b) == addresses(a) == [address("ann"), address("ben"), address("eve")]
        assert {bb.adapter.address: bb.owner_id for bb in b.mailboxes}[address("eve")] == team.owners["eve"]
        assert team.logged() == team.expected()               # every reply of every owner, once

        # Ann is archived; this time B pulls the CRM, and A stops her mailbox from the store.
        team.set_archived("ann", True)
        a.mark_due("crm")
        read, pulled = cycle(b, team)
        assert read and address("ann") not in pulled and addresses(b) == [address("ben"), address("eve")]
        read, pulled = cycle(a, team)
        assert not read and address("ann") not in pulled and addresses(a) == [address("ben"), address("eve")]
        row = found(a, "ann")
        assert not row.active and row.reason == STOPPED and row.owner_id == team.owners["ann"]
        kept = cursor(a, "ann")
        assert kept is not None and kept.data and kept.last_success_at is not None
        assert found(b, "ben").active and found(b, "eve").active
        while_away = team.deliver("ann")                      # arrives while her mailbox is stopped
        team.deliver("ben")
        for engine in (a, b, a):
            read, pulled = cycle(engine, team)
            assert not read and address("ann") not in pulled
        assert team.logged() == team.expected(leaving_out=(while_away,))
        untouched = cursor(b, "ann")                          # nobody touched her cursor while stopped
        assert untouched is not None and (untouched.data, untouched.updated_at) == (kept.data, kept.updated_at)

        # Ann is restored: A pulls the CRM this time; both resume her mailbox from its cursor.
        team.set_archived("ann", False)
        b.mark_due("crm")
        backfills = team.requests("gmail messages.list") + team.requests("gmail getProfile")
        assert backfills >= 3                                   # Ann, Ben and Eve were each backfilled once
        read, pulled = cycle(a, team)
        assert read and address("ann") in pulled and address("ann") in addresses(a)
        assert team.logged() == team.expected()               # the reply that came while away, once; nothing twice
        team.deliver("ann")
        read, pulled = cycle(b, team)
        assert not read and address("ann") in pulled
        assert addresses(b) == addresses(a) == [address("ann"), address("ben"), address("eve")]
        row = found(b, "ann")
        assert row.active and row.reason == ""
        resumed = cursor(b, "ann")
        assert resumed is not None and kept.data is not None and resumed.data is not None
        # From the cursor: no second backfill (messages.list / getProfile), no resync, the history id moved on.
        assert team.requests("gmail messages.list") + team.requests("gmail getProfile") == backfills
        assert resumed.resyncs == kept.resyncs == 0
        assert int(json.loads(resumed.data)["history_id"]) > int(json.loads(kept.data)["history_id"])
        assert team.logged() == team.expected()
        assert sum(sum(c.values()) for c in team.logged().values()) == sum(len(s) for s in team.sent.values())


# -- at once, on PostgreSQL --------------------------------------------------------------------------------------

def test_two_replicas_at_once_share_found_mailboxes_as_configured_ones(team: Team, tmp_path: Path,
                                                                        postgres_url: str) -> None:
    """Both replicas run their cycles in threads at once: each mailbox is leased by one of them, pulled once a
    round (a mailbox rests an hour unless a push marks it due), every reply logged once."""
    sandbox = team.sandbox
    names = [f"rep{n}" for n in range(6)]
    for name in names:
        team.hire(name)
        team.deliver(name)
    # Each replica pulls two mailboxes at once (fewer than six, so the split still shows), and each mailbox pull
    # takes real round trips (as against Gmail), so that one replica cannot take every mailbox before the
    # other's first claim: the split is decided by the leases.
    settings = team_settings(sandbox, tmp_path, postgres_url, poll_interval="1h", mailbox_concurrency=2)
    sandbox.faults.add(Fault("gmail", "slow", count=100_000, path_prefix="/gmail/v1/users", delay=0.1))
    with replicas(settings) as (a, b):
        # Discovery: A reads the owners alone (no mailbox pulled yet).
        assert cycle_only_crm(a, team)
        assert addresses(a) == [address(n) for n in names] and b.mailboxes == []

        # Round 1: both at once. B learns the team from the store; the CRM rests; the six mailboxes are split.
        first = at_once(a, b, team)
        assert not first.read[a.owner] and not first.read[b.owner]
        assert addresses(b) == addresses(a) == [address(n) for n in names]
        assert sorted(first.everything()) == [address(n) for n in names]      # each mailbox once: none twice
        assert first.pulled[a.owner] and first.pulled[b.owner], first.pulled   # both did a share
        first.assert_leased_as_pulled()
        assert team.logged() == team.expected()

        # Round 2: a new owner, a new reply in every mailbox; pushes mark the CRM and each mailbox due.
        team.hire("zoe")
        team.deliver("zoe")
        for name in names:
            team.deliver(name)
            b.mark_due(f"mailbox:{address(name)}")
        a.mark_due("crm")
        second = at_once(a, b, team)
        assert sorted(second.read.values()) == [False, True]                 # the owners read by one replica
        assert team.requests(OWNERS_ROUTE) == 4                               # two list_owners in all: once each
        assert sorted(second.everything()) == sorted(address(n) for n in [*names, "zoe"])
        second.assert_leased_as_pulled()
        assert team.logged() == team.expected()

        # Round 3: nothing due; whichever replica did not read the owners has Zoe's mailbox too now.
        third = at_once(a, b, team)
        assert third.everything() == [] and not any(third.read.values())
        assert addresses(a) == addresses(b) == sorted(address(n) for n in [*names, "zoe"])
        assert {bb.adapter.address: bb.owner_id for bb in b.mailboxes}[address("zoe")] == team.owners["zoe"]
        assert team.logged() == team.expected()
        assert sum(sum(c.values()) for c in team.logged().values()) == sum(len(s) for s in team.sent.values())
        for engine in (a, b):
            assert engine.leases.held() == []


def cycle_only_crm(engine: SyncEngine, team: Team) -> bool:
    before = team.requests(OWNERS_ROUTE)
    summary = engine.run_once(only={"crm"}, due_only=True)
    assert summary.errors == [] and summary.mailboxes == [], summary.errors
    return team.requests(OWNERS_ROUTE) > before


class Round:
    """What two replicas did in one round at once: whether each read the CRM (contacts pulled), which mailboxes
    each pulled, and every (unit, holder) pair seen in `work_leases` while they ran."""

    def __init__(self) -> None:
        self.read: dict[str, bool] = {}
        self.pulled: dict[str, list[str]] = {}
        self.holders: dict[str, set[str]] = {}

    def everything(self) -> list[str]:
        return sorted(m for got in self.pulled.values() for m in got)

    def assert_leased_as_pulled(self) -> None:
        """Each mailbox unit was held by one replica only during the round: the one that pulled it."""
        mailboxes = {unit: held for unit, held in self.holders.items() if unit.startswith("mailbox:")}
        assert mailboxes == {f"mailbox:{m}": {owner} for owner, got in self.pulled.items() for m in got}, \
            (mailboxes, self.pulled)


def at_once(a: SyncEngine, b: SyncEngine, team: Team) -> Round:
    """One due-only cycle on each replica, in two threads started together, while a third samples the leases."""
    result = Round()
    start, done = threading.Barrier(3), threading.Event()
    failures: list[BaseException] = []
    before = team.requests(OWNERS_ROUTE)

    def replica(engine: SyncEngine) -> None:
        try:
            start.wait()
            summary = engine.run_once(due_only=True)
            result.pulled[engine.owner] = sorted(m.mailbox for m in summary.mailboxes)
            result.read[engine.owner] = summary.contacts.pulled > 0
            assert summary.errors == [], summary.errors
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)

    def sampler() -> None:
        start.wait()
        with a.store.engine.connect() as connection:
            while not done.is_set():
                for unit, owner in connection.execute(text(
                        "SELECT unit, owner FROM work_leases WHERE owner IS NOT NULL")):
                    result.holders.setdefault(unit, set()).add(owner)
                connection.commit()
                time.sleep(0.01)

    threads = [threading.Thread(target=replica, args=(e,)) for e in (a, b)]
    watcher = threading.Thread(target=sampler)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    watcher.join(10)
    assert not failures, failures
    assert all(not t.is_alive() for t in threads), "a replica's cycle did not finish"
    # A replica that pulled the CRM read the owners (two requests: active, then archived owners).
    assert team.requests(OWNERS_ROUTE) - before == 2 * sum(result.read.values()), result.read
    return result
