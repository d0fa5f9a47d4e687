"""Sends/s benchmark: the SendExecutor draining intended sequence emails through the Gmail sandbox.

The sandbox runs in a child process (so this process's CPU is Threadline's alone) with one Gmail user
per mailbox and Gmail's per-user quota (15,000 units per minute; messages.send costs 100). The store
is filled the production way: contacts and enrolment events, then one SequenceRunner.run intends
`per_mailbox` first-step emails for every mailbox (daily cap raised to that, no spacing). Then the
SendExecutor runs until every row is done, with `refresh` = the real incremental mailbox ingest
(MailboxSync over the GmailAdapter) as the engine wires it, sleeping like the daemon until a retried
row is due.

Reported: sends/s, provider calls and quota units per send by method, 429s, this process's CPU per
send, time spent waiting in the adapters' limiters, and the floor the quota sets: the least time in
which `per_mailbox` sends fit the rolling quota window, for messages.send alone and for the units
actually spent per send (with the adapter's 5% headroom).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from bench.sequence_data import bench_sequence, mailbox_address, owner_id, seed
from threadline.adapters.gmail import GmailAdapter, from_refresh_token
from threadline.adapters.gmail.adapter import QUOTA_HEADROOM
from threadline.adapters.ratelimit import RateLimiter
from threadline.rules.sequences import SendingWindow, compile_sequences
from threadline.rules.sequences.runner import SendingMailbox, SequenceRunner
from threadline.rules.sequences.send_check import why_not_send
from threadline.sandbox.gmail.quota import COSTS
from threadline.sandbox.settings import SandboxSettings
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.mailboxes.ingest import MailboxSync
from threadline.sync.outbox.sends import SendExecutor
from threadline.sync.store.database import Store
from threadline.sync.store.tables import OutboxRow

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 60.0                                 # Gmail's per-user quota window, seconds
ALWAYS_OPEN = SendingWindow(start=clock_time(0, 0), end=clock_time(23, 59, 59), days=[0, 1, 2, 3, 4, 5, 6])


@dataclass(frozen=True)
class SendsConfig:
    """One scenario. `time_scale` shrinks Gmail's one-minute quota window and its units alike (same units
    per second, finer windows) in the sandbox and in the adapters' limiters, as bench/outlook_sync.py does."""

    mailboxes: int = 20
    per_mailbox: int = 50
    units_per_minute: int = 15_000
    time_scale: float = 1.0

    @property
    def window(self) -> float:
        return WINDOW / self.time_scale

    @property
    def units_per_window(self) -> int:
        return int(self.units_per_minute / self.time_scale)


def serve(mailboxes: int, units_per_window: int, window: float) -> None:
    """Child process: the sandbox with one Gmail user per mailbox. Prints {url, tokens}; when stdin closes,
    prints what each mailbox holds in SENT (messages, distinct Message-IDs, with List-Unsubscribe)."""
    from threadline.sandbox.server import SandboxServer

    server = SandboxServer(SandboxSettings(gmail_user_units_per_minute=units_per_window)).start()
    server.gmail.quota.window_seconds = window
    users = [mailbox_address(i) for i in range(mailboxes)]
    print(json.dumps({"url": server.url, "tokens": {u: server.gmail.oauth.issue_refresh_token(u) for u in users}}),
          flush=True)
    sys.stdin.read()
    sent = {}
    for user in users:
        copies = [m for m in server.gmail.messages(user) if "SENT" in m.labels]
        sent[user] = {"messages": len(copies), "distinct_message_ids": len({m.header("Message-ID") for m in copies}),
                      "with_list_unsubscribe": sum(1 for m in copies if m.header("List-Unsubscribe"))}
    print(json.dumps(sent), flush=True)
    server.stop()


def start_sandbox(config: SendsConfig) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    code = (f"from bench.sequence_sends import serve; "
            f"serve({config.mailboxes}, {config.units_per_window}, {config.window})")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    return child, json.loads(child.stdout.readline())


def stop_sandbox(child: subprocess.Popen[str]) -> dict[str, Any]:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    sent = json.loads(child.stdout.readline() or "{}")
    child.wait(timeout=60)
    return sent


def adapters_for(sandbox: dict[str, Any], config: SendsConfig) -> dict[str, GmailAdapter]:
    settings = SandboxSettings()
    url = sandbox["url"]
    return {user: GmailAdapter(user, from_refresh_token(settings.google_client_id, settings.google_client_secret,
                                                        token, token_uri=f"{url}/token"),
                               base_url=url, limiter=RateLimiter(config.units_per_window * QUOTA_HEADROOM,
                                                                 config.window))
            for user, token in sandbox["tokens"].items()}


def intend_sends(store: Store, config: SendsConfig, now: datetime, addresses: list[str] | None = None) -> int:
    """Seed contacts and events, then let the runner intend the first email of each enrollment. Mailbox i
    (owner i) sends from `addresses[i]`, by default the bench's own addresses."""
    contacts = config.mailboxes * config.per_mailbox
    seed(store, contacts, config.mailboxes, now)
    addresses = addresses or [mailbox_address(i) for i in range(config.mailboxes)]
    mailboxes = [SendingMailbox(address=address, owner_id=owner_id(i), display_name=f"Rep {i}")
                 for i, address in enumerate(addresses)]
    settings = bench_sequence(5, config.per_mailbox, 0, ALWAYS_OPEN)
    runner = SequenceRunner(store, compile_sequences([settings]), mailboxes,
                            public_url="https://threadline.bench.example", unsubscribe_secret="bench-secret")
    runner.run(now)
    return pending_sends(store)


def pending_sends(store: Store) -> int:
    with store.session() as session:
        return int(session.exec(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.kind == "send_email", OutboxRow.status.in_(["pending", "in_flight"]))).one())  # type: ignore[attr-defined]


def stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_sandbox/stats", timeout=30).json())


def gmail_routes(before: dict[str, Any], after: dict[str, Any]) -> Counter[str]:
    routes: Counter[str] = Counter()
    for key, value in after["by_route"].items():
        if key.startswith("gmail "):
            routes[key.removeprefix("gmail ")] = value - before["by_route"].get(key, 0)
    return +routes


def window_floor(calls: int, per_window: int, window: float = WINDOW) -> float:
    """Least time from the first to the last of `calls` sends when any `window` seconds hold `per_window`."""
    return 0.0 if calls <= 0 else math.floor((calls - 1) / max(1, per_window)) * window


def next_send_due(store: Store) -> datetime | None:
    with store.session() as session:
        due = session.exec(select(func.min(OutboxRow.next_attempt_at)).where(
            OutboxRow.kind == "send_email", OutboxRow.status == "pending")).one()
    return due.replace(tzinfo=UTC) if due is not None and due.tzinfo is None else due


def drain(executor: SendExecutor, store: Store) -> dict[str, Any]:
    """Run the executor until no send is pending, sleeping (as the daemon would) until a retried row is due."""
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    while pending_sends(store):
        summary = executor.run()
        totals.update({k: v for k, v in asdict(summary).items() if isinstance(v, int)})
        totals["passes"] += 1
        errors.update(error.split(": ", 1)[1] for error in summary.errors)
        due = next_send_due(store)
        if due is not None and due > datetime.now(UTC):
            time.sleep((due - datetime.now(UTC)).total_seconds())
    return {**totals, "errors": dict(errors)}


def send_spans(store: Store, started: datetime) -> dict[str, list[float]]:
    """Per mailbox: seconds from the start of the drain to its first and to its last recorded send."""
    spans: dict[str, list[float]] = {}
    with store.session() as session:
        for payload in session.exec(select(OutboxRow.payload).where(OutboxRow.kind == "send_email",
                                                                    OutboxRow.status == "done")).all():
            data = json.loads(payload)
            at = (datetime.fromisoformat(data["sent"]["at"]) - started).total_seconds()
            first, last = spans.get(data["mailbox"], [at, at])
            spans[data["mailbox"]] = [round(min(first, at), 1), round(max(last, at), 1)]
    return dict(sorted(spans.items()))


def run(config: SendsConfig) -> dict[str, Any]:
    child, sandbox = start_sandbox(config)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/sends.db")
            intended = intend_sends(store, config, datetime.now(UTC))
            adapters = adapters_for(sandbox, config)
            ingest = MailboxSync(store, AddressPolicy())
            owners = {mailbox_address(i): owner_id(i) for i in range(config.mailboxes)}

            def refresh(address: str) -> None:
                ingest.run(adapters[address], owners[address])

            for address in adapters:          # the engine's pull step has run before any send
                refresh(address)
            executor = SendExecutor(store, adapters, refresh, send_check=why_not_send, mailbox_owners=owners)
            before = stats(sandbox["url"])
            waited0 = sum(a.limiter.waited_seconds for a in adapters.values())
            started = datetime.now(UTC)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            outcome = drain(executor, store)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            outcome["send_span_seconds_by_mailbox"] = send_spans(store, started)
            waited = sum(a.limiter.waited_seconds for a in adapters.values()) - waited0
            after = stats(sandbox["url"])
            for adapter in adapters.values():
                adapter.close()
    finally:
        arrived = stop_sandbox(child)
    return report(config, intended, outcome, wall, cpu, waited, before, after, arrived)


def report(config: SendsConfig, intended: int, outcome: dict[str, Any], wall: float, cpu: float, waited: float,
           before: dict[str, Any], after: dict[str, Any], arrived: dict[str, Any]) -> dict[str, Any]:
    sent = outcome["sent"] + outcome["confirmed_from_sent"]
    routes = gmail_routes(before, after)
    units = after["units"].get("gmail", 0) - before["units"].get("gmail", 0)
    sends = routes.get("messages.send", 0)
    per_send_units = units / max(1, sends)
    send_only = config.units_per_window // COSTS["messages.send"]          # sends per window, send alone
    ours = int(config.units_per_window * QUOTA_HEADROOM // per_send_units) if per_send_units else 0
    floor_ours = window_floor(config.per_mailbox, ours, config.window)
    return {
        "mailboxes": config.mailboxes, "sends_per_mailbox": config.per_mailbox,
        "quota_units_per_window_per_user": config.units_per_window, "quota_window_seconds": config.window,
        "rows_intended": intended, "sends_recorded": sent, "executor": outcome,
        "wall_seconds": round(wall, 2), "sends_per_second": round(sent / wall, 2) if wall else None,
        "provider_calls_per_send": {k: round(v / max(1, sends), 3) for k, v in sorted(routes.items())},
        "quota_units_per_send": round(per_send_units, 2),
        "throttled_429": after["throttled"].get("gmail", 0) - before["throttled"].get("gmail", 0),
        "cpu_ms_per_send": round(cpu * 1000 / max(1, sent), 2),
        "our_max_sends_per_second_at_that_cpu": round(sent / cpu, 1) if cpu else None,
        "limiter_wait_seconds_summed_over_mailboxes": round(waited, 2),
        "gmail_ceiling_sends_per_second_send_only": round(config.mailboxes * send_only / config.window, 2),
        "ceiling_sends_per_second_at_units_spent_and_headroom": round(config.mailboxes * ours / config.window, 2),
        "floor_seconds_send_only": window_floor(config.per_mailbox, send_only, config.window),
        "floor_seconds_at_units_spent_and_headroom": floor_ours,
        "ratio_wall_to_floor": round(wall / floor_ours, 3) if floor_ours else None,
        "arrived": {"sent_copies": sum(v["messages"] for v in arrived.values()),
                    "distinct_message_ids": sum(v["distinct_message_ids"] for v in arrived.values()),
                    "with_list_unsubscribe": sum(v["with_list_unsubscribe"] for v in arrived.values())},
    }
