"""Work leases: replicas on one store split the sources, take over a dead replica's work, and are fenced.

LeaseBook semantics run on SQLite and PostgreSQL (with `exclusive=True`, as on a shared
store); the races (SKIP LOCKED in threads, two engines against the sandbox) need PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from tests.engine.world import reply, seed_contacts
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.monitoring.status import build_status
from threadline.connector.reports.render import work_table
from threadline.connector.runtime.daemon import DueWakeups
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.store.database import Store
from threadline.sync.store.tables import OutboxRow, WorkLeaseRow, utcnow
from threadline.sync.work.leases import LeaseBook, LeaseLost

UNITS = ["crm:hubspot", "mailbox:a@x.example", "mailbox:b@x.example"]
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    opened = Store(store_url)
    yield opened
    opened.dispose()


def book(store: Store, owner: str, lease: timedelta = LEASE) -> LeaseBook:
    return LeaseBook(store, owner, lease, exclusive=True)


def test_units_are_claimed_once_until_released_then_rest_until_due(store: Store) -> None:
    a, b = book(store, "a"), book(store, "b")
    assert a.claim(UNITS, limit=2) == ["crm:hubspot", "mailbox:a@x.example"]   # new units are due at once
    assert b.claim(UNITS, limit=3) == ["mailbox:b@x.example"]                  # held ones are skipped
    assert book(store, "c").claim(UNITS, force=True) == []                   # force still respects live leases
    a.release("crm:hubspot", utcnow() + timedelta(minutes=1))
    assert b.claim(UNITS) == []                                              # released, but resting
    assert b.claim(["crm:hubspot"], force=True) == ["crm:hubspot"]           # sync --once ignores the rest
    assert a.held() == ["mailbox:a@x.example"]
    assert a.release_all() == 1 and a.held() == []


def test_status_names_the_replica_holding_each_unit_and_flags_an_expired_lease(store: Store) -> None:
    from rich.console import Console

    a, b = book(store, "replica-a"), book(store, "replica-b", timedelta(milliseconds=200))
    assert a.claim(UNITS, limit=2) == ["crm:hubspot", "mailbox:a@x.example"]
    assert b.claim(UNITS) == ["mailbox:b@x.example"]
    a.release("crm:hubspot", utcnow() + timedelta(minutes=1))
    time.sleep(0.3)                                                        # b's lease runs out: b is gone
    with store.session() as session:
        work = {w.unit: w for w in build_status(session).work}
        report = build_status(session)
    assert (work["crm:hubspot"].holder, work["mailbox:a@x.example"].holder) == (None, "replica-a")
    assert not work["mailbox:a@x.example"].expired and work["mailbox:b@x.example"].expired
    console = Console(width=200, record=True)
    console.print(work_table(report))
    lines = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if "│" in line}
    assert "free" in lines["crm:hubspot"] and "replica-a" in lines["mailbox:a@x.example"]
    assert "replica-b (expired)" in lines["mailbox:b@x.example"]


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_out(store: Store) -> None:
    dead, alive = book(store, "dead", timedelta(milliseconds=300)), book(store, "alive")
    assert dead.claim(["mailbox:a@x.example"]) == ["mailbox:a@x.example"]
    assert alive.claim(["mailbox:a@x.example"]) == []
    assert alive.next_claimable(["mailbox:a@x.example"]) > utcnow()         # when that lease runs out
    time.sleep(0.4)
    assert alive.claim(["mailbox:a@x.example"]) == ["mailbox:a@x.example"]  # due or not: its work was cut short
    assert not dead.still_holds("mailbox:a@x.example")
    with pytest.raises(LeaseLost), store.session() as session:
        dead.fence(session, "mailbox:a@x.example")
    dead.release("mailbox:a@x.example", utcnow())                           # a stale release changes nothing
    assert alive.held() == ["mailbox:a@x.example"] and alive.still_holds("mailbox:a@x.example")


def test_a_push_during_a_pull_keeps_the_unit_due_after_release(store: Store) -> None:
    a, b = book(store, "a"), book(store, "b")
    assert a.claim(["mailbox:a@x.example"])
    b.mark_due("mailbox:a@x.example")                  # a notification arrives at the other replica
    a.release("mailbox:a@x.example", utcnow() + timedelta(hours=1))
    assert b.claim(["mailbox:a@x.example"]) == ["mailbox:a@x.example"]   # still due: whoever is free pulls it
    b.release("mailbox:a@x.example", utcnow() + timedelta(hours=1))
    assert a.claim(["mailbox:a@x.example"]) == []                        # no push this time: it rests


def test_renewal_keeps_a_short_lease_alive(store: Store) -> None:
    a, b = book(store, "a", timedelta(milliseconds=400)), book(store, "b")
    assert a.claim(["rules"])
    for _ in range(4):
        time.sleep(0.2)
        assert a.renew("rules")
        assert b.claim(["rules"], force=True) == []


def test_on_sqlite_a_single_replica_ignores_a_dead_runs_lease(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    LeaseBook(store, "killed", timedelta(hours=1)).claim(["mailbox:a@x.example"])
    assert LeaseBook(store, "next-run", LEASE).claim(["mailbox:a@x.example"]) == ["mailbox:a@x.example"]


def test_concurrent_claimers_on_postgresql_never_hold_the_same_unit(postgres_url: str) -> None:
    store = Store(postgres_url)
    units = [f"mailbox:{n}@x.example" for n in range(60)]
    book(store, "setup").ensure(units)
    taken: list[tuple[str, str]] = []
    start = threading.Barrier(4)

    def replica(owner: str) -> None:
        mine = book(store, owner)
        start.wait()
        while claimed := mine.claim(units, limit=3):
            taken.extend((owner, unit) for unit in claimed)

    threads = [threading.Thread(target=replica, args=(f"r{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(unit for _, unit in taken) == sorted(units)          # each unit exactly once
    assert len({owner for owner, _ in taken}) >= 2                     # and the work was shared
    with store.session() as session:
        owners = Counter(r.owner for r in session.exec(select(WorkLeaseRow)).all())
    assert sum(owners.values()) == 60 and None not in owners
    store.dispose()


def test_an_outbox_row_taken_over_is_skipped_by_its_stale_performer(postgres_url: str) -> None:
    from threadline.sync.outbox import rows as outbox
    store = Store(postgres_url)
    with store.session() as session:
        outbox.intend(session, [outbox.Intent("k1", "log_email", "c1", {})])
    with store.session() as session:
        [row] = outbox.claim_due(session, "log_email", "slow", timedelta(milliseconds=100), 10)
    time.sleep(0.2)
    with store.session() as session:
        [orphan] = outbox.orphaned_in_flight(session, "log_email", respect_leases=True)
        outbox.mark_retry(orphan, "released", timedelta(0))
        session.add(orphan)
    with store.session() as session:
        assert outbox.claim_due(session, "log_email", "fast", LEASE, 10)
    with store.session() as session:
        assert outbox.renew(session, [row.id], "slow", LEASE) == set()     # the slow one must not perform it
        assert outbox.renew(session, [row.id], "fast", LEASE) == {row.id}
        assert session.get(OutboxRow, row.id).lease_owner == "fast"        # type: ignore[union-attr]
    store.dispose()


def test_two_engines_on_one_postgresql_store_split_the_mailboxes_and_log_each_reply_once(
        sandbox: SandboxServer, postgres_url: str, tmp_path: Path) -> None:
    ids, addresses = seed_contacts(sandbox, 6)
    reps = [f"rep{n}@northwind.example" for n in range(8)]
    for n, rep in enumerate(reps):
        for k in range(3):
            sandbox.gmail.deliver(rep, reply(addresses[(n + k) % 6], rep, n * 10 + k))
    config = demo_config(sandbox, postgres_url, {"refresh_token": "", "owner_id": "1"})
    template = config["mailboxes"][0]
    config["mailboxes"] = [{**template, "address": rep, "refresh_token": sandbox.gmail.oauth.issue_refresh_token(rep)}
                           for rep in reps]
    # Each replica pulls several mailboxes at once, but fewer than all eight: the split still shows.
    config["sync"] = {**config.get("sync", {}), "mailbox_concurrency": 3}
    settings = parse_settings(config, tmp_path / "t.yaml", env={})
    engines = [build_engine(settings), build_engine(settings)]
    pulled: dict[str, list[str]] = {e.owner: [] for e in engines}
    start = threading.Barrier(2)
    # Each mailbox pull takes real round trips (as against Gmail), so that one replica cannot finish all eight
    # mailboxes before the other's first claim on a loaded machine: the split is then decided by the leases.
    sandbox.faults.add(Fault("gmail", "slow", count=10_000, path_prefix="/gmail/v1/users", delay=0.25))

    def replica(engine) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        for _ in range(2):
            summary = engine.run_once(due_only=True)
            pulled[engine.owner] += [m.mailbox for m in summary.mailboxes]

    threads = [threading.Thread(target=replica, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    sandbox.faults.clear()
    everything = [m for got in pulled.values() for m in got]
    assert sorted(everything) == sorted(reps)          # every mailbox pulled once: none twice, none dropped
    assert all(pulled.values()), pulled                # both replicas did a share
    subjects = [e["properties"]["hs_email_subject"] for cid in ids for e in sandbox.hubspot.emails_for(cid)]
    assert sorted(subjects) == sorted(f"Re: Proposal {n * 10 + k}" for n in range(8) for k in range(3))
    # A push received by one replica is pulled by another: the wakeup marks the mailbox due in the store.
    sandbox.gmail.deliver(reps[0], reply(addresses[0], reps[0], 99))
    wakeups = DueWakeups(engines[0])
    wakeups.wake(f"mailbox:{reps[0]}")
    deadline = time.monotonic() + 5
    while engines[1].seconds_until_due() != 0.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    wakeups.close()
    later = engines[1].run_once(due_only=True)
    assert [m.mailbox for m in later.mailboxes] == [reps[0]] and later.outbox.performed["log_email"] == 1
    for engine in engines:
        assert engine.leases.held() == []
        engine.close()


def test_an_expired_lease_is_claimed_before_a_backlog_of_due_units(store: Store) -> None:
    backlog = [f"mailbox:{n}@x.example" for n in range(5)]
    survivor, dead = book(store, "survivor"), book(store, "dead", timedelta(milliseconds=200))
    survivor.ensure(backlog)                       # due since before the dead replica's claim
    assert dead.claim(["mailbox:dead@x.example"], force=True) == ["mailbox:dead@x.example"]
    time.sleep(0.3)
    # Due longer than the dead unit, but that one was cut short mid-pull: it goes first.
    assert survivor.claim([*backlog, "mailbox:dead@x.example"]) == ["mailbox:dead@x.example"]


def test_two_threads_of_one_replica_never_hold_the_same_unit_even_on_sqlite(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    mine = LeaseBook(store, "one-process", LEASE)      # SQLite: exclusive=False, the store alone would allow it
    assert mine.claim(["mailbox:a@x.example"], force=True) == ["mailbox:a@x.example"]
    assert mine.claim(["mailbox:a@x.example"], force=True) == []         # e.g. a send's refresh during a pull
    assert mine.next_claimable(["mailbox:a@x.example"]) is None        # the scheduler does not spin on it
    mine.release("mailbox:a@x.example", utcnow())
    assert mine.claim(["mailbox:a@x.example"], force=True) == ["mailbox:a@x.example"]
    store.dispose()


def test_threads_claiming_the_outbox_never_get_the_same_row(store_url: str) -> None:
    from threadline.sync.outbox import rows as outbox
    store = Store(store_url)     # on SQLite FOR UPDATE is a no-op: the UPDATE's pending guard must decide
    with store.session() as session:
        outbox.intend(session, [outbox.Intent(f"k{n}", "log_email", "c1", {}) for n in range(120)])
    taken: list[int] = []
    start = threading.Barrier(4)

    def performer(owner: str) -> None:
        start.wait()
        while True:
            with store.session() as session:
                rows = outbox.claim_due(session, "log_email", owner, LEASE, 7)
            if not rows:
                return
            assert all(r.lease_owner == owner and r.status == "in_flight" and r.attempts == 1 for r in rows)
            taken.extend(r.id for r in rows)   # type: ignore[misc]

    threads = [threading.Thread(target=performer, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 120 and len(set(taken)) == 120               # every row claimed exactly once
    with store.session() as session:
        assert {r.status for r in session.exec(select(OutboxRow)).all()} == {"in_flight"}
    store.dispose()


def test_a_drainer_runs_when_woken_and_on_its_timer_until_stopped() -> None:
    from threadline.connector.runtime.drainers import Drainer
    stop, ran = threading.Event(), threading.Event()
    runs: list[float] = []

    def drain() -> list[str]:
        runs.append(time.monotonic())
        ran.set()
        return ["outbox: throttled"] if len(runs) == 2 else []

    drainer = Drainer("test", drain, stop, interval=0.5)
    thread = threading.Thread(target=drainer.run, daemon=True)
    thread.start()
    assert ran.wait(2)                      # a first drain at once
    ran.clear()
    woken_at = time.monotonic()
    drainer.wake()
    assert ran.wait(2) and runs[1] - woken_at < 0.2      # woken: drains now, not after the interval
    assert drainer.errors == ["outbox: throttled"]
    ran.clear()
    assert ran.wait(2) and 0.4 < runs[2] - runs[1] < 1.5  # nothing wakes it: the timer does
    stop.set()
    drainer.interrupt()
    thread.join(2)
    assert not thread.is_alive() and drainer.errors == []
