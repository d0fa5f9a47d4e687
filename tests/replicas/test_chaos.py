"""Chaos: three real `threadline run` replicas on PostgreSQL while replicas are killed and paused and the
providers misbehave; afterwards every reply is logged exactly once, every contact's reply properties are
right, and every sequence step went out exactly once.

During the chaos phase, at random moments (seeded, so a failure can be replayed with THREADLINE_CHAOS_SEED):
- replies arrive in the reps' Gmail inboxes;
- a replica is SIGKILLed and restarted;
- a replica is SIGSTOPped for 1-9 s, often longer than its 4 s lease, then SIGCONTinued: the case plain kills
  miss, a replica that wakes up holding work another replica already took over (fencing, adapters/fencing.py);
- HubSpot throttles an activity create for longer than the lease (the writes are parked for every replica),
  answers 5xx bursts, drops the answer after it acted, or answers slowly.

CI runs a short phase; THREADLINE_SOAK=1 runs it 100x as long (`python -m bench run chaos` records the
figures: replies, kills, pauses, faults fired, duplicates, losses). With THREADLINE_CHAOS_REPORT=path the
figures are also written there as JSON.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.replicas.replica_world import Replica, ReplicaWorld, build_world
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer

SOAK = os.environ.get("THREADLINE_SOAK") == "1"
CHAOS_SECONDS = 30.0 * (100 if SOAK else 1)
MAILBOXES = 6
LEASE_SECONDS = 4.0
REPLICAS = ("A", "B", "C")
CREATE = "/crm/v3/objects/emails/batch/create"
UPDATE = "/crm/v3/objects/contacts/batch/update"


@pytest.fixture
def world(tmp_path: Path, sandbox: SandboxServer, postgres_url: str) -> Iterator[ReplicaWorld]:
    built = build_world(tmp_path, sandbox, postgres_url, mailboxes=MAILBOXES, repliers=2, prospects=1, steps=2,
                        sync={"poll_interval": "1s", "lease_time": f"{LEASE_SECONDS:g}s",
                              "shutdown_timeout": "5s", "retry_first_delay": "1s", "retry_max_delay": "4s"})
    yield built
    for replica in built.replicas:
        if replica.alive():
            replica.process.send_signal(signal.SIGCONT)
    built.close()


class Chaos:
    """The running replicas by name, and what was done to them."""

    def __init__(self, world: ReplicaWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.live: dict[str, Replica] = {name: world.start_replica(name) for name in REPLICAS}
        self.paused: dict[str, float] = {}            # name -> when to SIGCONT (time.monotonic())
        self.figures: dict[str, Any] = {"kills": 0, "pauses": 0, "paused_longer_than_lease": 0, "faults_armed": 0}

    def tick(self) -> None:
        self.resume_due()
        action = self.rng.choices(["replies", "kill", "pause", "fault"], weights=[4, 1, 2, 2])[0]
        getattr(self, action)()

    def replies(self) -> None:
        self.world.deliver_replies(per_rep=1)

    def kill(self) -> None:
        name = self.rng.choice([n for n in self.live if n not in self.paused])
        self.live[name].kill()
        self.figures["kills"] += 1
        self.live[name] = self.world.start_replica(f"{name}{self.figures['kills']}")

    def pause(self) -> None:
        candidates = [n for n in self.live if n not in self.paused]
        if len(candidates) < 2:                        # keep one replica working
            return
        name = self.rng.choice(candidates)
        seconds = self.rng.uniform(1.0, 9.0)
        self.live[name].process.send_signal(signal.SIGSTOP)
        self.paused[name] = time.monotonic() + seconds
        self.figures["pauses"] += 1
        self.figures["paused_longer_than_lease"] += seconds > LEASE_SECONDS

    def resume_due(self, everyone: bool = False) -> None:
        for name, until in list(self.paused.items()):
            if everyone or time.monotonic() >= until:
                self.live[name].process.send_signal(signal.SIGCONT)
                del self.paused[name]

    def fault(self) -> None:
        kind = self.rng.choice(["long_throttle", "errors", "drop_after", "slow"])
        faults = self.world.sandbox.faults
        if kind == "long_throttle":     # longer than the lease: the CRM's writes are parked for every replica
            faults.add(Fault("hubspot", "throttle", count=1, delay=self.rng.uniform(6, 12), path_prefix=CREATE))
        elif kind == "errors":
            faults.add(Fault("hubspot", "error", count=self.rng.randint(2, 6), status=self.rng.choice([500, 502]),
                             path_prefix=self.rng.choice([CREATE, UPDATE])))
        elif kind == "drop_after":      # HubSpot created the engagements; the answer never arrived
            faults.add(Fault("hubspot", "drop_after", count=1, path_prefix=CREATE))
        else:
            faults.add(Fault("hubspot", "slow", count=3, delay=self.rng.uniform(0.5, 2.0), path_prefix=CREATE))
        self.figures["faults_armed"] += 1

    def settle(self) -> None:
        """Everyone back at work: paused ones continue, faults that are left are cleared."""
        self.resume_due(everyone=True)
        self.world.sandbox.faults.clear()


def work_done(world: ReplicaWorld) -> bool:
    if world.outbox_states().keys() - {"done"}:
        return False
    if any(e.status == "active" for e in world.enrollments()):
        return False
    return world.replies_logged() == sum(len(s) for s in world.replies_sent.values())


def test_kills_pauses_and_provider_faults_lose_nothing_and_double_nothing(world: ReplicaWorld) -> None:
    seed = int(os.environ.get("THREADLINE_CHAOS_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    world.deliver_replies(per_rep=1)
    chaos = Chaos(world, rng)
    started = time.monotonic()
    while time.monotonic() - started < CHAOS_SECONDS:
        chaos.tick()
        time.sleep(rng.uniform(0.5, 2.0))
    chaos.settle()
    world.deliver_replies(per_rep=1)                  # and mail keeps arriving after the storm
    settled = world.wait_until(lambda: work_done(world), timeout=240)

    logged = world.logged_replies()
    duplicates = sum(n - 1 for copies in logged.values() for n in copies.values() if n > 1)
    delivered = sum(len(s) for s in world.replies_sent.values())
    lost = delivered - world.replies_logged()
    intended = world.intended_sends()
    copies = world.sent_copies()
    fired = dict(world.sandbox.ctx.faults.fired)
    figures = {**chaos.figures, "seed": seed, "seconds": round(CHAOS_SECONDS), "replicas": len(REPLICAS),
               "replies": delivered, "duplicates": duplicates, "lost": lost, "faults_fired": fired,
               "sends": len(intended), "sends_duplicated": sum(n - 1 for n in copies.values() if n > 1),
               "settled_seconds": round(settled, 1)}
    print("\nchaos " + json.dumps(figures, sort_keys=True))
    if os.environ.get("THREADLINE_CHAOS_REPORT"):
        Path(os.environ["THREADLINE_CHAOS_REPORT"]).write_text(json.dumps(figures, sort_keys=True))

    assert (duplicates, lost) == (0, 0), f"seed {seed}: {figures}"
    for contact_id, subjects in world.replies_sent.items():
        assert logged[contact_id] == {s: 1 for s in subjects}, (seed, contact_id, logged[contact_id])
        properties = world.sandbox.hubspot.object("contacts", contact_id).properties
        assert properties["threadline_reply_count"] == str(len(subjects)), (seed, contact_id, properties)
        assert properties.get("threadline_last_reply_at"), (seed, contact_id)
    assert dict(copies) == {message_id: 1 for message_id in intended}, f"seed {seed}"
    assert set(world.outbox_states()) == {"done"}, (seed, world.outbox_states())
    assert chaos.figures["kills"] + chaos.figures["pauses"] > 0 and chaos.figures["faults_armed"] > 0
