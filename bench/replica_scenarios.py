"""The phases of the replicas benchmark, each run against a ReplicaWorld whose replicas are already running.

* `reply_logging`: a burst of replies lands in every mailbox at once; replies/s from delivery until the last
  one is logged on HubSpot (the store's log_email rows done, then checked on HubSpot).
* `outbox_sends`: prospects appear in HubSpot, enter a one-step sequence, and their emails go out; outbox
  rows/s from the first send row intended to the last one done (send_email rows, and all rows done meanwhile).
* `failover`: another burst, one replica SIGKILLed while it holds mailbox leases (checked while it is frozen with
  SIGSTOP, so the kill cannot fall between two pulls); how long until each of its
  units is held by another replica, and until the replies in the mailboxes it held are all logged.

Times of completed rows come from the store (updated_at), so polling granularity does not count.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from tests.replicas.replica_world import PROSPECT_TITLE, Replica, ReplicaWorld
from threadline.sync.store.tables import CursorRow, OutboxRow


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def log_counts(world: ReplicaWorld) -> dict[str, int]:
    """Warnings and errors the replicas logged, by event and error kind (e.g. provider.retry RateLimited)."""
    counts: Counter[str] = Counter()
    for replica in world.replicas:
        for line in replica.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("level") in ("warning", "error"):
                counts[" ".join(str(event[k]) for k in ("event", "error") if event.get(k))] += 1
    return dict(counts.most_common())


def rows_done(world: ReplicaWorld, kind: str) -> tuple[int, datetime | None]:
    """How many rows of `kind` are done, and when the last one was."""
    with world.store.session() as session:
        n, last = session.exec(select(func.count(), func.max(OutboxRow.updated_at))
                               .where(OutboxRow.kind == kind, OutboxRow.status == "done")).one()
    return int(n), _aware(last)


def wait_idle(world: ReplicaWorld, timeout: float) -> float:
    """Until every mailbox has had one successful pull and the outbox is empty of due work."""
    sources = {f"mailbox:{rep.address}" for rep in world.reps}

    def idle() -> bool:
        with world.store.session() as session:
            synced = set(session.exec(select(CursorRow.source).where(CursorRow.last_success_at.is_not(None))).all())
        return sources <= synced and not (world.outbox_states().keys() - {"done"})
    return world.wait_until(idle, timeout, every=0.5)


def reply_logging(world: ReplicaWorld, per_mailbox: int, timeout: float) -> dict[str, Any]:
    before, _ = rows_done(world, "log_email")
    delivered_at = datetime.now(UTC)
    n = world.deliver_replies(per_rep=per_mailbox)
    world.wait_until(lambda: rows_done(world, "log_email")[0] >= before + n, timeout, every=0.5)
    _, last = rows_done(world, "log_email")
    assert last is not None
    seconds = (last - delivered_at).total_seconds()
    with world.store.session() as session:
        done = sorted((_aware(at) - delivered_at).total_seconds() for at in session.exec(  # type: ignore[operator]
            select(OutboxRow.updated_at).where(OutboxRow.kind == "log_email", OutboxRow.updated_at >= delivered_at)))
    quantiles = {f"p{q}_logged_after_s": round(done[min(len(done) - 1, len(done) * q // 100)], 1) for q in (10, 50, 90)}
    return {"replies": n, "seconds": round(seconds, 2), "replies_per_s": round(n / seconds, 2), **quantiles,
            **exactly_once(world)}


def exactly_once(world: ReplicaWorld) -> dict[str, Any]:
    logged = world.logged_replies()
    copies = Counter(n for counts in logged.values() for n in counts.values())
    expected = sum(len(s) for s in world.replies_sent.values())
    return {"logged_on_hubspot": world.replies_logged(), "expected": expected,
            "duplicates": sum(n - 1 for n in copies.elements() if n > 1)}


def add_prospects(world: ReplicaWorld, per_mailbox: int) -> int:
    """New HubSpot contacts (jobtitle Prospect) owned by each rep: the next CRM pull enrols them."""
    added = 0
    for i, rep in enumerate(world.reps):
        for j in range(per_mailbox):
            email = f"prospect{i}x{j}@lead{i}.example"
            rep.prospects.append((world.sandbox.hubspot.add_contact(email, owner_id=rep.owner_id,
                                                                    firstname=f"P{i}x{j}", jobtitle=PROSPECT_TITLE),
                                  email))
            added += 1
    return added


def outbox_sends(world: ReplicaWorld, per_mailbox: int, timeout: float) -> dict[str, Any]:
    """Sends/s (first send row intended to last sent) and all rows/s of the phase (sends plus the outgoing
    activities they cause on HubSpot: first row intended to the outbox empty)."""
    started = datetime.now(UTC)
    n = add_prospects(world, per_mailbox)
    world.wait_until(lambda: rows_done(world, "send_email")[0] >= n, timeout, every=0.5)
    world.wait_until(lambda: not (world.outbox_states().keys() - {"done"}), timeout, every=0.5)
    with world.store.session() as session:
        rows = list(session.exec(select(OutboxRow).where(OutboxRow.created_at >= started)).all())
    sends = [r for r in rows if r.kind == "send_email"]
    copies = world.sent_copies()
    return {"sends": n, **_rate(sends, "sends"), "rows": len(rows), "rows_by_kind": dict(Counter(r.kind for r in rows)),
            **_rate(rows, "rows"), "sent_once": sum(1 for c in copies.values() if c == 1),
            "sent_twice_or_more": sum(1 for c in copies.values() if c > 1),
            "attempts_per_send": round(statistics.mean(r.attempts for r in sends), 3)}


def _rate(rows: list[OutboxRow], what: str) -> dict[str, float]:
    first = min(_aware(r.created_at) for r in rows)
    last = max(_aware(r.updated_at) for r in rows)
    assert first is not None and last is not None
    seconds = (last - first).total_seconds()
    return {f"{what}_seconds": round(seconds, 2), f"{what}_per_s": round(len(rows) / seconds, 2)}


def failover(world: ReplicaWorld, victim: Replica, per_mailbox: int, lease_seconds: float,
             timeout: float) -> dict[str, Any]:
    """During a burst, SIGKILL `victim` while it holds a mailbox lease. Measured from the kill: when each unit
    it held (read after the kill) has another owner, when that mailbox was next pulled to the end by another
    replica, when its in-flight outbox rows left it, and when the whole burst was logged."""
    before, _ = rows_done(world, "log_email")
    n = world.deliver_replies(per_rep=per_mailbox)
    deadline = time.monotonic() + timeout
    held: dict[str, datetime | None] = {}
    while time.monotonic() < deadline and not held:
        held = _freeze_holding_a_mailbox(world, victim)
    killed_at = victim.kill()
    killed_wall = datetime.now(UTC)
    rows = {r.id for r in world.outbox_rows() if r.status == "in_flight" and victim.owns(r.lease_owner)}
    taken: dict[str, float] = {}
    pulled: dict[str, float] = {}
    rows_left_at: float | None = None if rows else 0.0
    while (len(taken) < len(held) or len(pulled) < len(held) or rows_left_at is None) \
            and time.monotonic() < deadline:
        owners = {r["unit"]: r["owner"] for r in world.leases()}
        for unit in held:
            if unit not in taken and not victim.owns(owners.get(unit)):
                taken[unit] = time.monotonic() - killed_at
        for unit, at in _last_success(world, list(held)).items():
            if unit not in pulled and at is not None and at > killed_wall:
                pulled[unit] = (at - killed_wall).total_seconds()
        if rows_left_at is None and not any(victim.owns(r.lease_owner) for r in world.outbox_rows() if r.id in rows):
            rows_left_at = time.monotonic() - killed_at
        time.sleep(0.05)
    world.wait_until(lambda: rows_done(world, "log_email")[0] >= before + n, timeout, every=0.5)
    _, last = rows_done(world, "log_email")
    assert last is not None
    lease_left = [max(0.0, (until - killed_wall).total_seconds()) for until in held.values() if until is not None]
    return {"lease_time_s": lease_seconds, "units_held_at_kill": sorted(held),
            "lease_left_at_kill_s": [round(x, 2) for x in lease_left],
            "takeover_s": {u: round(t, 2) for u, t in taken.items()},
            "pulled_to_the_end_by_another_s": {u: round(t, 2) for u, t in pulled.items()},
            "outbox_rows_in_flight_at_kill": len(rows),
            "rows_released_s": None if rows_left_at is None else round(rows_left_at, 2),
            "burst_replies": n, "all_logged_after_kill_s": round((last - killed_wall).total_seconds(), 2),
            **exactly_once(world)}


def _freeze_holding_a_mailbox(world: ReplicaWorld, victim: Replica) -> dict[str, datetime | None]:
    """SIGSTOP the victim and read the units it holds. If it holds a mailbox, it stays frozen (to be killed) and
    its units are returned; else it goes on (SIGCONT) and {} is returned. Reading the leases after a kill raced
    with a pull that took one round trip: the 19:02 run killed the victim between two pulls, holding nothing."""
    os.kill(victim.pid, signal.SIGSTOP)
    held = {r["unit"]: _aware(r["lease_until"]) for r in world.leases() if victim.owns(r["owner"])}
    if any(unit.startswith("mailbox:") for unit in held):
        return held
    os.kill(victim.pid, signal.SIGCONT)
    time.sleep(0.02)
    return {}


def _last_success(world: ReplicaWorld, units: list[str]) -> dict[str, datetime | None]:
    """cursors.last_success_at of mailbox units (singletons such as "sequences" have no cursor)."""
    with world.store.session() as session:
        rows = session.exec(select(CursorRow).where(col(CursorRow.source).in_(units))).all()
    return {row.source: _aware(row.last_success_at) for row in rows}
