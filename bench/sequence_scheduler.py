"""Scheduler benchmark: SequenceRunner.run over simulated days, each send recorded as the executor records it.

The store holds `contacts` contacts owned by `mailboxes` reps and one enrolment event each. The clock
is simulated: every `run_every_minutes`, around the clock, the runner runs at that moment, then every
send_email row it intended is sent through an in-memory provider and recorded with the executor's
`record_sent` (see bench/sequence_delivery.py). Prospects answer a share of the mail 1-48 hours later;
the reply events arrive as the mailbox ingest writes them, and the runner exits those enrollments.
The run ends when every enrollment is finished, or after `max_days`.

Measured per runner call: CPU (time.process_time) and wall time, SQL statements, and its summary
(steps intended, deferred, held). The recording side is measured separately.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from bench.sequence_data import (
    SEQUENCE,
    bench_sequence,
    branching_sequence,
    contact_for_address,
    mailbox_address,
    owner_id,
    reply_event,
    seed,
)
from bench.sequence_delivery import ExecutorDelivery, InstantProvider, RecordingDelivery
from bench.sequence_measure import Meter, QueryCounter, spread
from threadline.rules.sequences import compile_sequences
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, EventRow, OutboxRow

#: A Monday: the simulated weeks start with an open day.
START = datetime(2026, 11, 30, tzinfo=UTC)
PUBLIC_URL = "https://threadline.bench.example"


@dataclass(frozen=True)
class SchedulerConfig:
    """The scenario; defaults are issue #5's sizes."""

    contacts: int = 10_000
    mailboxes: int = 20
    steps: int = 5
    daily_cap: int = 50
    spacing_minutes: float = 10
    run_every_minutes: float = 10
    max_days: int = 7
    reply_rate: float = 0.02          # share of sent emails the prospect answers (1-48 h later)
    deliver: str = "record"           # "record": record_sent per row; "executor": the whole SendExecutor
    seed: int = 7
    branching: bool = False           # the sequence with an A/B-tested first step and branches (sequence_data)
    visit_share: float = 0.0          # contacts with a pricing-page visit (what the branch looks for)


@dataclass
class Simulation:
    """The running simulation: store, runner, the sending side, and what was measured."""

    config: SchedulerConfig
    store: Store
    runner: SequenceRunner
    deliver: Callable[[datetime], int]
    queries: QueryCounter
    rng: random.Random
    runs: Meter = field(default_factory=Meter)
    sends: Meter = field(default_factory=Meter)
    delivered: list[tuple[str, str]] = field(default_factory=list)
    replies_due: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    replies: int = 0
    seen_sent: int = 0


def build(url: str, config: SchedulerConfig) -> Simulation:
    store = Store(url)
    seed(store, config.contacts, config.mailboxes, START, config.seed, config.visit_share)
    mailboxes = [SendingMailbox(address=mailbox_address(i), owner_id=owner_id(i), display_name=f"Rep {i}")
                 for i in range(config.mailboxes)]
    make = branching_sequence if config.branching else bench_sequence
    sequencer = compile_sequences([make(config.steps, config.daily_cap, config.spacing_minutes)])
    runner = SequenceRunner(store, sequencer, mailboxes, public_url=PUBLIC_URL, unsubscribe_secret="bench-secret")
    delivered: list[tuple[str, str]] = []
    providers = {box.address: InstantProvider(box.address, delivered) for box in mailboxes}
    owners = {box.address: str(box.owner_id) for box in mailboxes}
    deliver = (ExecutorDelivery if config.deliver == "executor" else RecordingDelivery)(store, providers, owners)
    return Simulation(config, store, runner, deliver, QueryCounter(store.engine), random.Random(config.seed),
                      delivered=delivered)


def tick(sim: Simulation, now: datetime) -> None:
    """One engine cycle at `now`: new reply events are ingested, the runner runs, its sends are recorded."""
    arrive_replies(sim, now)
    with sim.runs.measure(sim.queries) as sample:
        sample.result = sim.runner.run(now)
    with sim.sends.measure(sim.queries) as sample:
        sample.result = sim.deliver(now + timedelta(seconds=1))
    schedule_replies(sim, now)


def schedule_replies(sim: Simulation, now: datetime) -> None:
    """Each newly delivered mail is answered with probability reply_rate, 1 to 48 hours later."""
    for address, recipient in sim.delivered[sim.seen_sent:]:
        if sim.rng.random() < sim.config.reply_rate:
            at = now + timedelta(hours=sim.rng.uniform(1, 48))
            sim.replies_due.append((at, reply_event(contact_for_address(recipient), address, at)))
    sim.seen_sent = len(sim.delivered)


def arrive_replies(sim: Simulation, now: datetime) -> None:
    arrived = [event for at, event in sim.replies_due if at <= now]
    if not arrived:
        return
    sim.replies_due = [(at, event) for at, event in sim.replies_due if at > now]
    with sim.store.engine.begin() as connection:
        connection.execute(EventRow.__table__.insert(), arrived)  # type: ignore[attr-defined]
    sim.replies += len(arrived)


def open_enrollments(store: Store) -> int:
    with store.session() as session:
        return int(session.exec(select(func.count()).select_from(EnrollmentRow).where(
            col(EnrollmentRow.status).in_(["active", "paused"]))).one())


def simulate(url: str, config: SchedulerConfig) -> dict[str, Any]:
    sim = build(url, config)
    step = timedelta(minutes=config.run_every_minutes)
    now, days = START, 0
    while days < config.max_days:
        day_end = START + timedelta(days=days + 1)
        while now + step <= day_end:
            now += step
            tick(sim, now)
        days += 1
        if open_enrollments(sim.store) == 0:
            break
    try:
        return report(sim, days)
    finally:
        sim.store.engine.dispose()


def sends_per_mailbox_day(store: Store) -> Counter[tuple[str, str]]:
    """Done sends per (mailbox, UTC day of the send), from the rows the executor recorded."""
    counts: Counter[tuple[str, str]] = Counter()
    with store.session() as session:
        for payload in session.exec(select(OutboxRow.payload).where(OutboxRow.kind == "send_email",
                                                                    OutboxRow.status == "done")).all():
            data = json.loads(payload)
            counts[(data["mailbox"], str(data["sent"]["at"])[:10])] += 1
    return counts


def sends_per_day(per_mailbox_day: Counter[tuple[str, str]]) -> Counter[str]:
    days: Counter[str] = Counter()
    for (_, day), n in per_mailbox_day.items():
        days[day] += n
    return days


def enrollment_states(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.exec(select(EnrollmentRow.status, EnrollmentRow.exit_reason, func.count())
                            .where(EnrollmentRow.sequence == SEQUENCE)
                            .group_by(EnrollmentRow.status, EnrollmentRow.exit_reason)).all()
    return {f"{status}{':' + reason if reason else ''}": int(n) for status, reason, n in rows}


def due_steps(summary: Any) -> int:
    """Due steps one runner call handled: each was intended, deferred (cap, spacing, window) or held. The
    bench sequence has email steps only, so tasks_intended (the owners' reply tasks) are not due steps."""
    return int(summary.sends_intended + summary.deferred + summary.held)


def runner_figures(sim: Simulation) -> dict[str, Any]:
    """The runner's calls: the first (which enrols everyone), the ones with due steps, the idle ones."""
    first, rest = sim.runs.samples[0], sim.runs.samples[1:]
    busy = [s for s in rest if due_steps(s.result)]
    idle = [s for s in rest if not due_steps(s.result)]
    totals: Counter[str] = Counter()
    for sample in sim.runs.samples:
        totals.update({k: v for k, v in asdict(sample.result).items() if isinstance(v, int)})
    due = sum(due_steps(s.result) for s in sim.runs.samples)
    return {
        "runner_calls": len(sim.runs.samples), "calls_with_due_steps": len(busy),
        "totals": dict(totals), "due_steps_handled": due,
        "cpu_seconds_total": round(sim.runs.cpu, 2), "wall_seconds_total": round(sim.runs.wall, 2),
        "cpu_us_per_due_step": round(sim.runs.cpu * 1e6 / max(1, due), 1),
        "cpu_us_per_due_step_excluding_enrolment_call": round(
            sum(s.cpu for s in rest) * 1e6 / max(1, due - due_steps(first.result)), 1),
        "cpu_ms_per_send_intended": round(sim.runs.cpu * 1e3 / max(1, totals["sends_intended"]), 3),
        "enrolment_call": {"enrolled": first.result.enrolled, "due_steps": due_steps(first.result),
                           "wall_s": round(first.wall, 2), "cpu_s": round(first.cpu, 2), "queries": first.queries},
        "busy_call_wall_ms": spread([s.wall for s in busy]), "busy_call_cpu_ms": spread([s.cpu for s in busy]),
        "busy_call_due_steps": spread([float(due_steps(s.result)) for s in busy], scale=1, digits=0),
        "busy_call_queries": spread([float(s.queries) for s in busy], scale=1, digits=0),
        "busy_call_cpu_seconds_total": round(sum(s.cpu for s in busy), 3),
        "busy_call_due_steps_total": sum(due_steps(s.result) for s in busy),
        "idle_call_cpu_ms": spread([s.cpu for s in idle]),
        "idle_call_wall_ms": spread([s.wall for s in idle]), "idle_call_queries": spread(
            [float(s.queries) for s in idle], scale=1, digits=0),
    }


def delivery_figures(sim: Simulation) -> dict[str, Any]:
    sent = sum(int(sample.result) for sample in sim.sends.samples)
    return {"mode": sim.config.deliver, "calls": len(sim.sends.samples), "sent": sent,
            "cpu_seconds_total": round(sim.sends.cpu, 2), "cpu_ms_per_send": round(sim.sends.cpu * 1e3 / max(1, sent), 3),
            "queries_per_send": round(sum(s.queries for s in sim.sends.samples) / max(1, sent), 1)}


def report(sim: Simulation, days: int) -> dict[str, Any]:
    cap = sim.config.daily_cap
    per_day = sends_per_mailbox_day(sim.store)
    delivered = Counter(recipient for _, recipient in sim.delivered)
    return {
        "config": asdict(sim.config), "simulated_days": days, "store": sim.store.engine.dialect.name,
        "runner": runner_figures(sim), "delivery": delivery_figures(sim),
        "emails_delivered": len(sim.delivered), "replies_arrived": sim.replies,
        "enrollments": enrollment_states(sim.store),
        "sends_per_utc_day": dict(sorted(sends_per_day(per_day).items())),
        "max_sends_per_mailbox_day": max(per_day.values(), default=0), "daily_cap": cap,
        "mailbox_days_over_cap": sum(1 for n in per_day.values() if n > cap),
        "mailbox_days_at_cap": sum(1 for n in per_day.values() if n == cap),
        "contacts_mailed_more_than_steps": sum(1 for n in delivered.values() if n > sim.config.steps),
    }
