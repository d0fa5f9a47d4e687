"""Three real `threadline run` replicas on one PostgreSQL store; one is SIGKILLed mid-run.

16 reps, each a Gmail mailbox in the sandbox (over real HTTP) and a HubSpot owner, with two contacts who
reply and one prospect who enters a two-step sequence. Replicas A, B and C start together; A kills itself
(SIGKILL, no cleanup) at a crashpoint, in two runs:

* `outbox.after_remote_create:1`: HubSpot created A's first batch of activities, A never recorded them: it
  dies holding in-flight outbox rows (the others must look them up, not create them again);
* `mailbox.after_message:5`: A is half-way through a page of a mailbox it leased: it dies holding the
  mailbox's lease with the page uncommitted (the others must re-read it, once the lease runs out).

New replies keep arriving after the kill. Then, within a bounded wait:

* every reply is logged on its HubSpot contact exactly once;
* every sequence step went out exactly once (Gmail SENT, by Message-ID), and nothing else went out;
* no outbox row is left pending, in flight or failed;
* A's leases (work units and outbox rows) moved to B and C within about sync.lease_time (measured);
* B and C stop on SIGTERM with exit code 0 within sync.shutdown_timeout.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.replicas.replica_world import Replica, ReplicaWorld, build_world
from threadline.sandbox.server import SandboxServer

MAILBOXES = 16
STEPS = 2
LEASE_SECONDS = 5.0
POLL_SECONDS = 1.0
SHUTDOWN_SECONDS = 10.0
CRASH_POINTS = ["outbox.after_remote_create:1", "mailbox.after_message:5"]
ROUNDS_AFTER_KILL = 2            # reply rounds (one reply per rep) delivered after the kill, 2 s apart
#: Takeover bound: the lease runs out, then a survivor must get round to it. A survivor's cycle (16 mailboxes
#: between two replicas, sends, the outbox) takes a few seconds on a busy 2-core CI machine.
TAKEOVER_BOUND = LEASE_SECONDS + POLL_SECONDS + 8.0


@pytest.fixture
def world(tmp_path: Path, sandbox: SandboxServer, postgres_url: str) -> Iterator[ReplicaWorld]:
    built = build_world(tmp_path, sandbox, postgres_url, mailboxes=MAILBOXES, steps=STEPS,
                        sync={"poll_interval": f"{POLL_SECONDS:g}s", "lease_time": f"{LEASE_SECONDS:g}s",
                              "shutdown_timeout": f"{SHUTDOWN_SECONDS:g}s"})
    yield built
    built.close()


def held_by(world: ReplicaWorld, replica: Replica) -> dict[str, Any]:
    """What `replica` holds in the store now: leased work units and in-flight outbox rows (owner names the pid)."""
    now = datetime.now(UTC)
    units = {row["unit"]: _aware(row["lease_until"]) for row in world.leases()
             if replica.owns(row["owner"]) and _aware(row["lease_until"]) > now}
    rows = {row.id: _aware(row.lease_until) for row in world.outbox_rows()
            if row.status == "in_flight" and replica.owns(row.lease_owner)}
    expiries = [*units.values(), *rows.values()]
    return {"units": set(units), "rows": set(rows), "first_expiry": min(expiries) if expiries else now}


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def still_held(world: ReplicaWorld, replica: Replica, held: dict[str, Any]) -> set[str]:
    """Which of `held` the dead replica still holds: a unit whose owner is unchanged, a row still its own."""
    owners = {row["unit"]: row["owner"] for row in world.leases()}
    left = {f"unit {u}" for u in held["units"] if replica.owns(owners.get(u))}
    rows = {row.id: row for row in world.outbox_rows() if row.id in held["rows"]}
    left |= {f"row {i}" for i, row in rows.items() if replica.owns(row.lease_owner)}
    return left


def wait_for_crash(replica: Replica, crash_at: str, timeout: float = 40.0) -> tuple[float, str]:
    """Until `replica` kills itself at its crashpoint (else: SIGKILL it); (when it died, how)."""
    deadline = time.monotonic() + timeout
    while replica.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if replica.alive():
        return replica.kill(), "plain SIGKILL (crashpoint not reached)"
    assert replica.process.returncode == -signal.SIGKILL, replica.output()
    return time.monotonic(), f"crashpoint {crash_at}"


def all_work_done(world: ReplicaWorld) -> bool:
    states = world.outbox_states()
    if states.keys() - {"done"}:
        return False
    enrollments = world.enrollments()
    if len(enrollments) < MAILBOXES or any(e.status == "active" for e in enrollments):
        return False
    return world.replies_logged() == sum(len(s) for s in world.replies_sent.values())


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_sigkill_one_of_three_replicas_loses_nothing_and_doubles_nothing(world: ReplicaWorld, crash_at: str) -> None:
    t0 = time.monotonic()
    world.deliver_replies(per_rep=1)
    a = world.start_replica("A", crash_at=crash_at)
    b, c = world.start_replica("B"), world.start_replica("C")
    killed_at, how = wait_for_crash(a, crash_at)
    held = held_by(world, a)
    assert held["units"] or held["rows"], f"A died holding nothing ({how})"

    # Takeover: poll what A held while new replies keep coming.
    taken_over_after: float | None = None
    next_round, rounds = time.monotonic(), 0
    while taken_over_after is None or rounds < ROUNDS_AFTER_KILL:
        if rounds < ROUNDS_AFTER_KILL and time.monotonic() >= next_round:
            world.deliver_replies(per_rep=1)
            rounds, next_round = rounds + 1, time.monotonic() + 2.0
        if taken_over_after is None and not still_held(world, a, held):
            taken_over_after = time.monotonic() - killed_at
            # Nobody may take a lease that still runs (0.2 s: the polling step before we noticed).
            assert datetime.now(UTC) + timedelta(seconds=0.2) >= held["first_expiry"], "a live lease was taken"
        assert time.monotonic() - killed_at < 4 * LEASE_SECONDS + 20, \
            f"A's work never moved: {sorted(still_held(world, a, held))}"
        time.sleep(0.1)
    t_takeover = time.monotonic() - t0
    settled = world.wait_until(lambda: all_work_done(world), timeout=90)
    print(f"\nkill at {killed_at - t0:.1f}s, takeover loop until {t_takeover:.1f}s, settled {settled:.1f}s later")

    # Every reply logged exactly once, nothing logged that was not sent.
    logged = world.logged_replies()
    for contact_id, subjects in world.replies_sent.items():
        assert logged[contact_id] == {s: 1 for s in subjects}, (contact_id, logged[contact_id])
    assert sum(sum(c.values()) for c in logged.values()) == world.replies_logged()
    # Every step intended once per prospect, sent exactly once; nothing else sent.
    intended = world.intended_sends()
    per_prospect = sorted(len([r for r in intended.values() if r.contact_id == cid])
                          for rep in world.reps for cid, _ in rep.prospects)
    assert per_prospect == [STEPS] * MAILBOXES
    copies = world.sent_copies()
    assert dict(copies) == {message_id: 1 for message_id in intended}
    assert all(json.loads(r.payload)["sent"]["confirmed"] for r in intended.values())
    assert {(e.status, e.step) for e in world.enrollments()} == {("completed", STEPS)}
    assert set(world.outbox_states()) == {"done"}
    # A's leases moved within about one lease time (+ until a survivor got round to them).
    assert taken_over_after is not None and taken_over_after <= TAKEOVER_BOUND, \
        f"takeover took {taken_over_after:.1f}s ({how}; held {held})"
    print(f"\nA died by {how} holding {len(held['units'])} units and {len(held['rows'])} rows; "
          f"taken over after {taken_over_after:.2f}s (lease_time {LEASE_SECONDS:g}s)")

    for survivor in (b, c):
        code, took = survivor.terminate(timeout=SHUTDOWN_SECONDS + 5)
        assert code == 0, f"{survivor.name}: exit {code} after {took:.1f}s\n{survivor.output()}"
        assert took <= SHUTDOWN_SECONDS + 2, f"{survivor.name} took {took:.1f}s to stop"
    assert not any(row["owner"] for row in world.leases() if _aware(row["lease_until"]) > datetime.now(UTC)), \
        "a stopped replica left a live lease behind"
