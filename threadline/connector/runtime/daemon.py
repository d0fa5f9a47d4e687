"""`threadline run`: pull on push, poll as the fallback, drain the outbox; stop cleanly on SIGTERM.

One scheduler thread runs sync cycles; push endpoints and IMAP IDLE watchers only wake it,
after marking the source due in the store so that any replica that is free pulls it. A cycle
pulls the sources that are due (each rests `sync.poll_interval` after a pull, which catches up
after any lost notification) for a few seconds at most, then runs the rules and sequences; the
scheduler sleeps until the next source falls due or a replica's lease on one runs out.
Sequence sends and CRM writes are performed meanwhile by two drainers (`connector/runtime/drainers.py`),
woken whenever a cycle step intends something. A cursor still has one writer at a time: a
send's mailbox refresh claims the mailbox like a pull, and a process's threads never hold
the same unit.

Shutdown (`stop`): no new work is taken, the page or row in hand is finished and
committed, every lease this replica holds is released, all within `sync.shutdown_timeout`.
"""

from __future__ import annotations

import errno
import functools
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
import uvicorn

from threadline.adapters.errors import ProviderError
from threadline.adapters.imap import ImapMailbox as ImapAdapter
from threadline.adapters.outlook import OutlookAdapter
from threadline.config.models import ImapMailbox, Settings
from threadline.connector.runtime.drainers import Drainer
from threadline.connector.web.app import GraphHooks, build_web_app
from threadline.connector.web.push.graph_notifications import GraphSubscriptions
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine, build_mailbox
from threadline.sync.engine import SyncEngine, mailbox_source

log = structlog.get_logger("threadline.daemon")
MIN_SLEEP = 0.1          # seconds between cycles at the least, whatever falls due
RELEASE_RESERVE = 2.0    # seconds of the shutdown timeout kept for releasing leases
# IDLE is re-issued every minute: far inside servers' 29-minute limit, and it keeps shutdown prompt.
IDLE_CHUNK_SECONDS = 60.0
WATCH_RENEWAL_SECONDS = 24 * 3600


@dataclass
class DaemonStats:
    cycles: int = 0
    push_cycles: int = 0
    last_cycle_at: float | None = None
    errors: list[str] = field(default_factory=list)


class DueWakeups(Wakeups):
    """Wakeups that also mark the source due in a shared store, so that if this replica is busy another one
    pulls it. The marking happens on a thread of its own: push endpoints must not wait on the database."""

    def __init__(self, engine: SyncEngine) -> None:
        super().__init__()
        self.engine = engine
        self._marks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.shared = engine.store.shared       # SQLite: one replica, the local wakeup is all there is
        if self.shared:
            threading.Thread(target=self._mark_due, name="threadline mark-due", daemon=True).start()

    def wake(self, source: str) -> None:
        if self.shared:
            self._marks.put(source)
        super().wake(source)

    def take(self) -> set[str]:
        sources = super().take()
        if not self.shared:
            # SQLite: no mark-due thread, but a pushed source still rests its poll interval in the lease table,
            # so without this mark the push cycle pulled nothing (found by bench/push_latency.py). take() runs on
            # the scheduler thread, just before the cycle: the push endpoint never waits on the store.
            for source in sources:
                try:
                    self.engine.mark_due(source)
                except Exception as exc:  # noqa: BLE001 - the source is still pulled when its rest is over
                    log.warning("daemon.mark_due_failed", source=source, error=type(exc).__name__)
        return sources

    def close(self) -> None:
        self._marks.put(None)

    def _mark_due(self) -> None:
        while (source := self._marks.get()) is not None:
            try:
                self.engine.mark_due(source)
            except Exception as exc:  # noqa: BLE001 - the local wakeup still gets the pull done
                log.warning("daemon.mark_due_failed", source=source, error=type(exc).__name__)


class ServerUnavailable(Exception):  # noqa: N818 - what the admin reads: the address cannot be served
    """server.host:server.port cannot be served; the message says which key to change."""


def port_free(host: str, port: int) -> None:
    """Raise ServerUnavailable when `host:port` is taken or cannot be bound (checked before anything starts)."""
    if port == 0:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)    # as uvicorn binds
            probe.bind((host, port))
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        raise ServerUnavailable(f"{host}:{port} {why}: stop the other process, or set server.port (or "
                                "server.host) in the config to a free one") from None


class Daemon:
    """Runs until `stop()`. `start()` returns once the HTTP server listens."""

    def __init__(self, settings: Settings, engine: SyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or build_engine(settings)
        self.wakeups = DueWakeups(self.engine)
        self.stats = DaemonStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.drainers = [Drainer("sends", self._send, self._stop), Drainer("outbox", self._write_crm, self._stop)]
        self.engine.on_intent = self._wake_drainers
        self.graph_subscriptions = GraphSubscriptions()
        hooks = GraphHooks(self.graph_subscriptions, self._graph_lifecycle)
        app = build_web_app(settings, self.wakeups, hooks, store=self.engine.store, policy=self.engine.policy)
        config = uvicorn.Config(app, host=settings.server.host,
                                port=settings.server.port, log_level="warning", access_log=False, lifespan="off")
        self._http = uvicorn.Server(config)

    @property
    def port(self) -> int:
        servers = getattr(self._http, "servers", [])
        return int(servers[0].sockets[0].getsockname()[1]) if servers else self.settings.server.port

    def start(self) -> Daemon:
        """Serve HTTP, then start the scheduler and the drainers. Raises ServerUnavailable (nothing left running)
        when server.host:server.port cannot be served."""
        try:
            port_free(self.settings.server.host, self.settings.server.port)
        except ServerUnavailable:
            self.engine.close()
            raise
        self._spawn("http", self._http.run)
        deadline = time.monotonic() + 15
        while not self._http.started:
            if time.monotonic() > deadline or not self._threads[-1].is_alive():
                self.engine.close()
                raise ServerUnavailable(f"the HTTP server did not start on {self.settings.server.host}:"
                                        f"{self.settings.server.port} (server.host / server.port); see the log above")
            time.sleep(0.02)
        self._renew_watches()
        self._subscribe_graph()
        if self.settings.push.imap_idle:
            for box in self.settings.mailboxes:
                if isinstance(box, ImapMailbox):
                    self._spawn(f"idle {box.address}", functools.partial(self._idle_loop, box))
        self._spawn("scheduler", self._schedule)
        for drainer in self.drainers:
            self._spawn(drainer.name, drainer.run)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking work, finish the page or row in hand, release every lease; within `timeout` seconds
        (default `sync.shutdown_timeout`). Work still running after that is abandoned: its leases are
        released anyway, and the fences keep it from committing over the replica that takes it next."""
        budget = self.settings.sync.shutdown_timeout.total_seconds() if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, budget - RELEASE_RESERVE)
        self._stop.set()
        self.engine.stopping.set()
        self.wakeups.interrupt()
        for drainer in self.drainers:
            drainer.interrupt()
        self._http.should_exit = True
        self.wakeups.close()
        for thread in self._threads:
            # IDLE watchers hold no state worth waiting for: their connection dies with the process.
            wait = deadline - time.monotonic()
            thread.join(timeout=max(0.0, min(wait, 1.0) if thread.name.startswith("threadline idle") else wait))
        busy = [t.name for t in self._threads if t.is_alive() and not t.name.startswith("threadline idle")]
        if busy:
            log.warning("daemon.stop_timeout", threads=busy)
        try:
            self.engine.release_leases()
        except Exception as exc:  # noqa: BLE001 - leases expire by themselves; stopping must not fail
            log.warning("daemon.release_failed", error=type(exc).__name__, detail=str(exc)[:300])
        self.engine.close()
        log.info("daemon.stopped", cycles=self.stats.cycles)

    def _spawn(self, name: str, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=target, name=f"threadline {name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _schedule(self) -> None:
        next_watch = time.monotonic() + WATCH_RENEWAL_SECONDS
        first = True
        while not self._stop.is_set():
            woken = False if first else self.wakeups.wait(self._seconds_until_work())
            first = False
            if self._stop.is_set():
                break
            sources = self.wakeups.take()
            self._cycle()
            if woken and sources:
                self.stats.push_cycles += 1
            if time.monotonic() >= next_watch:
                self._renew_watches()
                self._renew_graph()
                next_watch = time.monotonic() + WATCH_RENEWAL_SECONDS

    def _seconds_until_work(self) -> float:
        """Until a source falls due (or another replica's lease on one runs out); at most a poll interval."""
        interval = self.settings.sync.poll_interval.total_seconds()
        try:
            due = self.engine.seconds_until_due()
        except Exception as exc:  # noqa: BLE001 - an unreachable store: try again after the interval
            log.warning("daemon.schedule_failed", error=type(exc).__name__)
            due = None
        return max(MIN_SLEEP, min(interval, interval if due is None else due))

    def _cycle(self) -> None:
        try:
            summary = self.engine.run_once(due_only=True, drain=False)
            self.stats.errors = summary.errors + [e for d in self.drainers for e in d.errors]
        except Exception as exc:  # noqa: BLE001 - the daemon must outlive any one cycle
            log.error("daemon.cycle_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self.stats.errors = [f"{type(exc).__name__}: {exc}"]
        self.stats.cycles += 1
        self.stats.last_cycle_at = time.time()

    def _wake_drainers(self) -> None:
        for drainer in self.drainers:
            drainer.wake()

    def _send(self) -> list[str]:
        return [f"send: {e}" for e in self.engine.send_due().errors]

    def _write_crm(self) -> list[str]:
        # No settle window: the drainer runs again within DRAIN_INTERVAL, so a retry falling due is not waited for.
        written = self.engine.write_crm(settle_seconds=0.0)
        return [] if written is None else [f"outbox: {e}" for e in written.errors]

    def _renew_watches(self) -> None:
        push = self.settings.push.gmail
        if push is None:
            return
        for binding in self.engine.mailboxes:
            watch = getattr(binding.adapter, "watch", None)
            if binding.adapter.kind == "gmail" and watch is not None:
                try:
                    expires = watch(push.topic)
                    log.info("push.watch_renewed", mailbox=binding.adapter.address, expires=expires.isoformat())
                except ProviderError as exc:
                    log.warning("push.watch_failed", mailbox=binding.adapter.address, error=exc.kind)

    def _outlook_adapters(self) -> list[OutlookAdapter]:
        return [b.adapter for b in self.engine.mailboxes if isinstance(b.adapter, OutlookAdapter)]

    def _subscribe_graph(self) -> None:
        push = self.settings.push.graph
        if push is None:
            return
        for adapter in self._outlook_adapters():
            try:
                made = adapter.subscribe(push.notification_url, push.client_state.get_secret_value())
            except ProviderError as exc:
                log.warning("push.subscribe_failed", mailbox=adapter.address, error=exc.kind)
                continue
            for subscription_id, _expires in made:
                self.graph_subscriptions.add(subscription_id, adapter.address)

    def _renew_graph(self) -> None:
        for subscription_id, _address in self.graph_subscriptions.items():
            self._graph_lifecycle(subscription_id, "reauthorizationRequired")

    def _graph_lifecycle(self, subscription_id: str, event: str) -> None:
        """reauthorizationRequired: renew; subscriptionRemoved: subscribe again; missed: pull now."""
        address = self.graph_subscriptions.mailbox_for(subscription_id)
        adapter = next((a for a in self._outlook_adapters() if a.address == address), None)
        if address is None or adapter is None:
            return
        try:
            if event == "reauthorizationRequired":
                adapter.renew(subscription_id)
            elif event == "subscriptionRemoved":
                self.graph_subscriptions.forget(subscription_id)
                self._subscribe_graph()
        except ProviderError as exc:
            log.warning("push.lifecycle_failed", mailbox=address, lifecycle_event=event, error=exc.kind)
        self.wakeups.wake(mailbox_source(address))   # whatever happened, catch up from the cursor

    def _idle_loop(self, box: ImapMailbox) -> None:
        """Hold IMAP IDLE on this mailbox's INBOX with its own connection; wake the scheduler on new mail."""
        mailbox = build_mailbox(self.settings, box)
        assert isinstance(mailbox, ImapAdapter)     # an ImapMailbox setting builds the IMAP adapter
        source = mailbox_source(box.address)
        opened = False
        while not self._stop.is_set():
            try:
                if not opened:
                    # IDLE announces only mail that arrives once INBOX is open on this connection: open it
                    # first (a zero wait), then pull once for whatever came before (found by a flaky push test).
                    mailbox.idle_wait(0)
                    self.wakeups.wake(source)
                    opened = True
                if mailbox.idle_wait(IDLE_CHUNK_SECONDS):
                    self.wakeups.wake(source)
            except ProviderError as exc:
                opened = False
                log.warning("push.idle_failed", mailbox=box.address, error=exc.kind)
                self._stop.wait(30)
        mailbox.close()
