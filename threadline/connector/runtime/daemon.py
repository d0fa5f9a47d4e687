"""`threadline run`: pull on push, poll as the fallback, drain the outbox; stop cleanly on SIGTERM.

One scheduler thread runs sync cycles; push endpoints and IMAP IDLE watchers only wake it,
after marking the source due in the store so that any replica that is free pulls it. A cycle
pulls the sources that are due (each rests `sync.poll_interval` after a pull, which catches up
after any lost notification) for a few seconds at most, then runs the rules and sequences; the
scheduler sleeps until the next source falls due or a replica's lease on one runs out.
After each cycle the scheduler reconciles push with the mailboxes the engine syncs now (configured, found
from the CRM's owners, connected by reps): a Gmail watch or Graph subscription for each one taken on, the
subscriptions of each one let go deleted (`_reconcile_push`).
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

from threadline.adapters.errors import NotFound, ProviderError
from threadline.adapters.gmail import GmailAdapter
from threadline.adapters.imap import ImapMailbox as ImapAdapter
from threadline.adapters.outlook import OutlookAdapter
from threadline.config.models import ImapMailbox, Settings
from threadline.connector.runtime.drainers import Drainer
from threadline.connector.web.app import GraphHooks, build_web_app
from threadline.connector.web.limits import uvicorn_options
from threadline.connector.web.push.graph_notifications import GraphSubscriptions
from threadline.connector.web.push.wakeups import Wakeups
from threadline.connector.wiring.build import build_engine, build_mailbox
from threadline.connector.wiring.team import TeamDirectory
from threadline.sync.engine import SyncEngine, mailbox_source
from threadline.sync.store.tables import FoundMailboxRow

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
        # Which mailboxes push was set up for (tried, even if it failed: retried on the daily renewal, not each
        # cycle). Only the scheduler thread (and start, before it runs) reads or changes them.
        self.watched: set[str] = set()          # Gmail: users.watch asked for
        self.subscribed: set[str] = set()       # Outlook: Graph subscriptions asked for
        self._removed: set[str] = set()         # Outlook mailboxes Graph removed a subscription of (HTTP thread)
        self._removed_lock = threading.Lock()
        self.idle_mailboxes: list[str] = []     # IMAP mailboxes held in IDLE (push.imap_idle_max caps them)
        self._to_renew: set[str] = set()        # subscriptions Graph asked to reauthorize (HTTP thread)
        hooks = GraphHooks(self.graph_subscriptions, self._lifecycle_from_graph)
        app = build_web_app(settings, self.wakeups, hooks, store=self.engine.store, policy=self.engine.policy,
                            known_mailboxes=self._synced_addresses)
        config = uvicorn.Config(app, host=settings.server.host,
                                port=settings.server.port, log_level="warning", access_log=False, lifespan="off",
                                **uvicorn_options(settings.server.limits))
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
        self._reconcile_push(catch_up=False)     # the configured mailboxes: the first cycle pulls them anyway
        if self.settings.push.imap_idle:
            self._start_idle()
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
        log.info("daemon.stopping", within_seconds=budget)     # on stderr at once: where a slow stop stands
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
        log.info("daemon.releasing")
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
            try:
                self._reconcile_push()
            except Exception as exc:  # noqa: BLE001 - the daemon must outlive it; the next cycle tries again
                log.error("push.reconcile_failed", error=type(exc).__name__, detail=str(exc)[:300])
            if time.monotonic() >= next_watch:
                self.renew_push()
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

    # -- push: Gmail watches and Graph subscriptions for every mailbox the engine syncs ------------------------
    def _synced_addresses(self) -> set[str]:
        """The mailboxes the engine syncs now (the Gmail push endpoint's known set, read at each push)."""
        return {binding.adapter.address for binding in list(self.engine.mailboxes)}

    def _push_targets(self) -> tuple[dict[str, GmailAdapter], dict[str, OutlookAdapter]]:
        """The engine's current Gmail mailboxes (with Gmail push configured) and Outlook ones (with Graph push)."""
        bindings = list(self.engine.mailboxes)
        gmail = {b.adapter.address: b.adapter for b in bindings if isinstance(b.adapter, GmailAdapter)} \
            if self.settings.push.gmail is not None else {}
        outlook = {b.adapter.address: b.adapter for b in bindings if isinstance(b.adapter, OutlookAdapter)} \
            if self.settings.push.graph is not None else {}
        return gmail, outlook

    def _reconcile_push(self, catch_up: bool = True) -> None:
        """Make push cover exactly the mailboxes the engine syncs now: a watch or subscriptions for each one it took
        on, none for each one it let go (owner archived, rep disconnected). One set comparison when nothing
        changed. With `catch_up`, a mailbox that just got push is pulled once more: mail that arrived between its
        first pull and its watch would otherwise wait for the poll interval."""
        with self._removed_lock:
            to_renew, self._to_renew = self._to_renew, set()
        for subscription_id in sorted(to_renew):
            self._graph_lifecycle(subscription_id, "reauthorizationRequired")
        gmail, outlook = self._push_targets()
        with self._removed_lock:
            removed, self._removed = self._removed, set()
        if gmail.keys() == self.watched and outlook.keys() == self.subscribed and not removed:
            return
        for address in sorted(self.watched - gmail.keys()):
            # No users.stop: the adapter is closed with the binding. Not renewed, the watch ends within 7 days,
            # and meanwhile the push endpoint ignores the mailbox.
            self.watched.discard(address)
            log.info("push.watch_dropped", mailbox=address)
        for address in sorted(self.subscribed - outlook.keys()):
            self.subscribed.discard(address)
            self._unsubscribe(address)
        started: list[str] = []
        for address in sorted(removed & self.subscribed & outlook.keys()):
            # Its other folder's subscription is deleted too, so that subscribing again makes no duplicate.
            self._unsubscribe(address, outlook[address])
            if self._subscribe(outlook[address]):
                started.append(address)
        for address, gmail_adapter in sorted(gmail.items()):
            if address not in self.watched and not self._stop.is_set():
                self.watched.add(address)
                if self._watch(gmail_adapter):
                    started.append(address)
        for address, outlook_adapter in sorted(outlook.items()):
            if address not in self.subscribed and not self._stop.is_set():
                self.subscribed.add(address)
                if self._subscribe(outlook_adapter):
                    started.append(address)
        if catch_up:
            for address in started:
                self.wakeups.wake(mailbox_source(address))

    def renew_push(self) -> None:
        """The daily renewal: every Gmail watch and Graph subscription the engine's mailboxes hold."""
        self._renew_watches()
        self._renew_graph()

    def _renew_watches(self) -> None:
        """Daily: users.watch again on every Gmail mailbox the engine syncs (a failed one is tried again too)."""
        for adapter in self._push_targets()[0].values():
            self._watch(adapter)

    def _watch(self, adapter: GmailAdapter) -> bool:
        push = self.settings.push.gmail
        assert push is not None
        try:
            expires = adapter.watch(push.topic)
        except ProviderError as exc:
            log.warning("push.watch_failed", mailbox=adapter.address, error=exc.kind)
            return False
        log.info("push.watch_renewed", mailbox=adapter.address, expires=expires.isoformat())
        return True

    def _outlook_adapters(self) -> list[OutlookAdapter]:
        return [b.adapter for b in self.engine.mailboxes if isinstance(b.adapter, OutlookAdapter)]

    def _subscribe(self, adapter: OutlookAdapter) -> bool:
        push = self.settings.push.graph
        assert push is not None
        try:
            made = adapter.subscribe(push.notification_url, push.client_state.get_secret_value())
        except ProviderError as exc:
            log.warning("push.subscribe_failed", mailbox=adapter.address, error=exc.kind)
            return False
        for subscription_id, _expires in made:
            self.graph_subscriptions.add(subscription_id, adapter.address)
        log.info("push.subscribed", mailbox=adapter.address, subscriptions=len(made))
        return True

    def _unsubscribe(self, address: str, adapter: OutlookAdapter | None = None) -> None:
        """Forget a mailbox's subscriptions and delete them at Graph, best effort (unrenewed, they lapse within
        three days anyway). Without `adapter` (a mailbox let go: the engine closed its adapter), one is built for
        the call from the mailbox's found row."""
        ids = self.graph_subscriptions.forget_mailbox(address)
        if not ids:
            return
        built = None
        try:
            if adapter is None:
                adapter = built = self._adapter_for_unsubscribe(address)
            if adapter is None:
                log.warning("push.unsubscribe_skipped", mailbox=address, reason="no credentials left for it")
                return
            for subscription_id in ids:
                try:
                    adapter.unsubscribe(subscription_id)
                except ProviderError as exc:
                    log.warning("push.unsubscribe_failed", mailbox=address, error=exc.kind)
            log.info("push.unsubscribed", mailbox=address, subscriptions=len(ids))
        except Exception as exc:  # noqa: BLE001 - best effort: building the adapter may fail in many ways
            log.warning("push.unsubscribe_failed", mailbox=address, error=type(exc).__name__)
        finally:
            if built is not None:
                built.close()

    def _adapter_for_unsubscribe(self, address: str) -> OutlookAdapter | None:
        """A fresh adapter with a let-go mailbox's credentials (its found row still says where they come from);
        None when they are gone (a disconnected rep's tokens) or it is no Outlook mailbox."""
        with self.engine.store.session() as session:
            row = session.get(FoundMailboxRow, address)
        if row is None:
            return None
        directory = self.engine.directory
        binding = directory.build(self.settings, row) if isinstance(directory, TeamDirectory) else None
        if binding is None:
            return None
        if not isinstance(binding.adapter, OutlookAdapter):
            binding.adapter.close()
            return None
        return binding.adapter

    def _renew_graph(self) -> None:
        """Daily: renew every subscription, and subscribe again the Outlook mailboxes left without one (a failed
        subscribe, a removal whose new subscribe failed)."""
        for subscription_id, _address in self.graph_subscriptions.items():
            self._graph_lifecycle(subscription_id, "reauthorizationRequired")
        covered = self.graph_subscriptions.mailboxes()
        for address, adapter in self._push_targets()[1].items():
            if address not in covered and not self._stop.is_set():
                self.subscribed.add(address)
                self._subscribe(adapter)

    def _lifecycle_from_graph(self, subscription_id: str, event: str) -> None:
        """A lifecycle notification, on the HTTP server's loop: no Graph call here (it would hold up every
        request the server answers meanwhile). A renewal is queued for the scheduler, which runs it after the
        cycle this wakes; the rest is quick bookkeeping."""
        if event == "reauthorizationRequired":
            address = self.graph_subscriptions.mailbox_for(subscription_id)
            if address is not None:
                with self._removed_lock:
                    self._to_renew.add(subscription_id)
                self.wakeups.wake(mailbox_source(address))
            return
        self._graph_lifecycle(subscription_id, event)

    def _graph_lifecycle(self, subscription_id: str, event: str) -> None:
        """reauthorizationRequired: renew; subscriptionRemoved: the scheduler subscribes that mailbox again after the
        cycle this wakes (not here, on the HTTP server's loop: Graph's validation request to the new subscription's
        URL would wait behind this very call); missed: pull now."""
        address = self.graph_subscriptions.mailbox_for(subscription_id)
        adapter = next((a for a in self._outlook_adapters() if a.address == address), None)
        if address is None or adapter is None:
            return
        try:
            if event == "reauthorizationRequired":
                try:
                    adapter.renew(subscription_id)
                except NotFound:
                    # Graph deleted it (it expired unrenewed, say while every replica was down): without this
                    # the mailbox fell back to polling for good. The scheduler subscribes it anew.
                    event = "subscriptionRemoved"
                    log.warning("push.subscription_gone", mailbox=address, note="subscribing again")
            if event == "subscriptionRemoved":
                self.graph_subscriptions.forget(subscription_id)
                with self._removed_lock:
                    self._removed.add(address)
        except ProviderError as exc:
            log.warning("push.lifecycle_failed", mailbox=address, lifecycle_event=event, error=exc.kind)
        self.wakeups.wake(mailbox_source(address))   # whatever happened, catch up from the cursor

    def _start_idle(self) -> list[str]:
        """IDLE for the first `push.imap_idle_max` IMAP mailboxes (config order): each holds a thread and a server
        connection, so hundreds would exhaust both. The others are polled (sync.poll_interval), and the log
        says which. Returns the addresses held in IDLE."""
        boxes = [box for box in self.settings.mailboxes if isinstance(box, ImapMailbox)]
        cap = self.settings.push.imap_idle_max
        for box in boxes[:cap]:
            self._spawn(f"idle {box.address}", functools.partial(self._idle_loop, box))
        if len(boxes) > cap:
            log.warning("push.idle_capped", idle=cap, polled=len(boxes) - cap,
                        polled_mailboxes=[box.address for box in boxes[cap:]][:20],
                        note="raise push.imap_idle_max for more IDLE connections, or leave these to polling")
        self.idle_mailboxes = [box.address for box in boxes[:cap]]
        return self.idle_mailboxes

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
