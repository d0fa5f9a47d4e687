"""One replica pulls many mailboxes at once (sync.mailbox_concurrency), and every provider limit still holds.

Real HTTP against the sandbox: the Gmail simulator counts the requests it serves at once (in all and per
mailbox token) and enforces the per-user and per-project quotas as Google documents them; the Graph
simulator enforces the per-mailbox request window, 4 concurrent requests per mailbox, and the per-app limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

from sqlmodel import select

from tests.engine.world import reply, seed_contacts
from tests.fixtures.sandbox import outlook_on
from threadline.adapters.gmail import GmailAdapter, from_refresh_token
from threadline.adapters.ratelimit import RateLimiter
from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer
from threadline.sync.engine import SyncEngine
from threadline.sync.store.tables import MessageRow

REPS = [f"rep{n:02d}@northwind.example" for n in range(12)]


def gmail_team(sandbox: SandboxServer, tmp_path: Path, concurrency: int,
               **sync: Any) -> tuple[SyncEngine, list[str], list[str]]:
    """An engine over a fresh SQLite store with 12 Gmail mailboxes; each has 3 replies from known contacts.
    Returns the engine, the contact ids and the subjects delivered."""
    ids, addresses = seed_contacts(sandbox, 6)
    subjects = []
    for n, rep in enumerate(REPS):
        for k in range(3):
            sandbox.gmail.deliver(rep, reply(addresses[(n + k) % 6], rep, n * 10 + k))
            subjects.append(f"Re: Proposal {n * 10 + k}")
    config = demo_config(sandbox, f"sqlite:///{tmp_path / 'team.db'}", {"refresh_token": "", "owner_id": "1"})
    template = config["mailboxes"][0]
    config["mailboxes"] = [{**template, "address": rep, "refresh_token": sandbox.gmail.oauth.issue_refresh_token(rep)}
                           for rep in REPS]
    config["sync"] = {**config["sync"], "mailbox_concurrency": concurrency, **sync}
    return build_engine(parse_settings(config, tmp_path / "t.yaml", env={})), ids, subjects


def logged_subjects(sandbox: SandboxServer, ids: list[str]) -> Counter[str]:
    return Counter(e["properties"]["hs_email_subject"] for cid in ids for e in sandbox.hubspot.emails_for(cid))


def test_a_replica_pulls_many_mailboxes_at_once_and_logs_each_reply_once(sandbox: SandboxServer,
                                                                        tmp_path: Path) -> None:
    engine, ids, subjects = gmail_team(sandbox, tmp_path, concurrency=6)
    sandbox.gmail.gateway.serve_delay = 0.1        # a round trip the workers can overlap
    try:
        summary = engine.run_once()
    finally:
        engine.close()
    gateway = sandbox.gmail.gateway
    assert gateway.in_flight.peak >= 4, gateway.in_flight.peak          # several mailboxes in flight at once
    assert gateway.in_flight.peak_per_caller == 1                        # but each mailbox one request at a time
    assert sorted(m.mailbox for m in summary.mailboxes) == sorted(REPS)  # each pulled once
    assert not summary.errors
    logged = logged_subjects(sandbox, ids)
    assert sorted(logged) == sorted(subjects) and set(logged.values()) == {1}
    assert sandbox.stats.snapshot()["throttled"].get("gmail", 0) == 0


def test_a_second_cycle_of_idle_mailboxes_costs_one_call_each_and_logs_nothing_again(sandbox: SandboxServer,
                                                                                     tmp_path: Path) -> None:
    engine, ids, subjects = gmail_team(sandbox, tmp_path, concurrency=4)
    try:
        engine.run_once()
        before = Counter(sandbox.stats.snapshot()["by_route"])
        summary = engine.run_once()
        after = Counter(sandbox.stats.snapshot()["by_route"])
    finally:
        engine.close()
    assert len(summary.mailboxes) == len(REPS) and summary.pulled == 0
    calls = {route: n for route, n in (after - before).items() if route.startswith("gmail ")}
    assert calls == {"gmail history.list": len(REPS)}
    assert set(logged_subjects(sandbox, ids).values()) == {1}


def test_the_project_quota_is_shared_by_every_mailbox_and_a_project_429_loses_nothing(sandbox: SandboxServer,
                                                                                      tmp_path: Path) -> None:
    # The sandbox's project allows 40 units a second; each mailbox alone stays far below its own quota.
    sandbox.gmail.project_quota.units_per_minute = 40
    sandbox.gmail.project_quota.window_seconds = 1.0
    engine, ids, subjects = gmail_team(sandbox, tmp_path, concurrency=6)
    try:
        summary = engine.run_once()
    finally:
        engine.close()
    throttled = sandbox.stats.snapshot()["throttled"].get("gmail", 0)
    assert throttled > 0                           # the workers together did hit the project's quota ...
    assert not summary.errors                      # ... were held off by its Retry-After, and retried
    logged = logged_subjects(sandbox, ids)
    assert sorted(logged) == sorted(subjects) and set(logged.values()) == {1}


def test_a_project_limiter_sized_to_the_quota_meets_no_429_at_all(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.gmail.project_quota.units_per_minute = 60
    sandbox.gmail.project_quota.window_seconds = 1.0
    s = sandbox.settings
    # One shared limiter for the project, a little under the sandbox's quota (windows are not aligned).
    project = RateLimiter(capacity=50, window=1.1, name="gmail")
    adapters = [GmailAdapter(rep, from_refresh_token(s.google_client_id, s.google_client_secret,
                                                     sandbox.gmail.oauth.issue_refresh_token(rep),
                                                     token_uri=f"{sandbox.url}/token"),
                             base_url=sandbox.url, project_limiter=project, attempts=1) for rep in REPS[:8]]
    for n, rep in enumerate(REPS[:8]):
        for k in range(4):
            sandbox.gmail.deliver(rep, reply(f"buyer{k}@customer.example", rep, n * 10 + k))
    pulled: Counter[str] = Counter()

    def pull(adapter: GmailAdapter) -> None:
        for page in adapter.pull(None):
            pulled[adapter.address] += len(page.messages)

    threads = [threading.Thread(target=pull, args=(a,)) for a in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for adapter in adapters:
        adapter.close()
    assert pulled == Counter({rep: 4 for rep in REPS[:8]})      # attempts=1: any 429 would have failed a pull
    assert sandbox.stats.snapshot()["throttled"].get("gmail", 0) == 0
    assert sandbox.stats.snapshot()["units"]["gmail"] > 60     # more than one window's worth went through


def test_outlook_mailboxes_pulled_at_once_stay_within_the_per_mailbox_and_per_app_limits(tls_sandbox: SandboxServer
                                                                                         ) -> None:
    graph = tls_sandbox.graph
    graph.limits.delay = 0.05                   # each request holds its slot a moment: overlaps become visible
    graph.limits.app_requests, graph.limits.app_window = 30, 1.0
    app = RateLimiter(capacity=25, window=1.1, name="outlook")
    reps = [f"rep{n}@contoso.example" for n in range(6)]
    for n, rep in enumerate(reps):
        for k in range(3):
            graph.deliver(rep, reply(f"buyer{k}@customer.example", rep, n * 10 + k))
    pulled: Counter[str] = Counter()
    failures: list[BaseException] = []

    def pull(rep: str) -> None:
        try:
            with outlook_on(tls_sandbox, rep, app_limiter=app, attempts=1) as adapter:
                for page in adapter.pull(None):
                    pulled[rep] += len(page.messages)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=pull, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures                                # attempts=1: a 429 would have failed a pull
    assert pulled == Counter({rep: 3 for rep in reps})
    assert graph.limits.peak_in_flight > 1 and graph.limits.peak_per_mailbox <= 4
    assert tls_sandbox.stats.snapshot()["throttled"].get("graph", 0) == 0


def test_a_send_refreshes_a_mailbox_this_replica_holds_but_has_not_started(sandbox: SandboxServer,
                                                                            tmp_path: Path) -> None:
    """The workers claim a batch of mailboxes at once, so one may wait in their queue, held but unread. The refresh
    right before a send from it must still read it (a reply there pauses the sequence), not give up as if another
    replica were reading it; the lease stays with the queue."""
    engine, ids, subjects = gmail_team(sandbox, tmp_path, concurrency=4)
    try:
        engine.run_once()
        rep, unit = REPS[0], f"mailbox:{REPS[0]}"
        sandbox.gmail.deliver(rep, reply("buyer0@customer0.example", rep, 999))    # a contact gmail_team made
        assert engine.leases.claim([unit], force=True) == [unit]          # held, as a queued claim is
        engine.refresh(rep)
        assert engine.leases.holder(unit) == engine.owner                 # still held: the queue releases it
        with engine.store.session() as session:
            seen = session.exec(select(MessageRow.subject).where(MessageRow.mailbox == rep)).all()
        assert "Re: Proposal 999" in seen
    finally:
        engine.close()
