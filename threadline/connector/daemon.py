"""`threadline run`: pull on push, poll as the fallback, drain the outbox; stop cleanly on SIGTERM.

One scheduler thread runs sync cycles (so cursors and the store see one writer per
process); push endpoints and IMAP IDLE watchers only add sources to `Wakeups`. A
timer forces a full cycle every `sync.poll_interval`, which catches up after any
lost notification.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import structlog
import uvicorn

from threadline.adapters.errors import ProviderError
from threadline.config.models import GmailMailbox, ImapMailbox, Settings
from threadline.connector.push.graph_notifications import GraphSubscriptions
from threadline.connector.push.wakeups import Wakeups
from threadline.connector.web import GraphHooks, build_web_app
from threadline.connector.wiring import build_engine, build_mailbox
from threadline.sync.engine import CRM_SOURCE, SyncEngine, mailbox_source

log = structlog.get_logger("threadline.daemon")
# IDLE is re-issued every minute: far inside servers' 29-minute limit, and it keeps shutdown prompt.
IDLE_CHUNK_SECONDS = 60.0
WATCH_RENEWAL_SECONDS = 24 * 3600


@dataclass
class DaemonStats:
    cycles: int = 0
    push_cycles: int = 0
    last_cycle_at: float | None = None
    errors: list[str] = field(default_factory=list)


class Daemon:
    """Runs until `stop()`. `start()` returns once the HTTP server listens."""

    def __init__(self, settings: Settings, engine: SyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or build_engine(settings)
        self.wakeups = Wakeups()
        self.stats = DaemonStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
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
        self._spawn("http", self._http.run)
        deadline = time.monotonic() + 15
        while not self._http.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.02)
        self._renew_watches()
        self._subscribe_graph()
        if self.settings.push.imap_idle:
            for box in self.settings.mailboxes:
                if isinstance(box, ImapMailbox):
                    self._spawn(f"idle {box.address}", lambda b=box: self._idle_loop(b))
        self._spawn("scheduler", self._schedule)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the cycle in progress (bounded by `timeout`), then stop every thread."""
        self._stop.set()
        self.wakeups.interrupt()
        self._http.should_exit = True
        for thread in self._threads:
            # IDLE watchers hold no state worth waiting for: their connection dies with the process.
            thread.join(timeout=1.0 if thread.name.startswith("threadline idle") else timeout)
        self.engine.close()

    def _spawn(self, name: str, target) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, name=f"threadline {name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _schedule(self) -> None:
        interval = self.settings.sync.poll_interval.total_seconds()
        crm_every = self.settings.sync.crm_poll_interval
        next_full = time.monotonic()
        next_crm = next_full + (crm_every.total_seconds() if crm_every else float("inf"))
        next_watch = time.monotonic() + WATCH_RENEWAL_SECONDS
        while not self._stop.is_set():
            woken = self.wakeups.wait(max(0.0, min(next_full, next_crm) - time.monotonic()))
            if self._stop.is_set():
                break
            sources = self.wakeups.take()
            if crm_every and time.monotonic() >= next_crm:       # short CRM poll between full cycles
                sources.add(CRM_SOURCE)
                next_crm = time.monotonic() + crm_every.total_seconds()
                woken = True
            full = time.monotonic() >= next_full
            self._cycle(None if full else sources)
            if full:
                next_full = time.monotonic() + interval
            elif woken:
                self.stats.push_cycles += 1
            if time.monotonic() >= next_watch:
                self._renew_watches()
                self._renew_graph()
                next_watch = time.monotonic() + WATCH_RENEWAL_SECONDS

    def _cycle(self, only: set[str] | None) -> None:
        try:
            summary = self.engine.run_once(only=only)
            self.stats.errors = summary.errors
        except Exception as exc:  # noqa: BLE001 - the daemon must outlive any one cycle
            log.error("daemon.cycle_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self.stats.errors = [f"{type(exc).__name__}: {exc}"]
        self.stats.cycles += 1
        self.stats.last_cycle_at = time.time()

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

    def _outlook_adapters(self) -> list[object]:
        return [b.adapter for b in self.engine.mailboxes if b.adapter.kind == "outlook"]

    def _subscribe_graph(self) -> None:
        push = self.settings.push.graph
        if push is None:
            return
        for adapter in self._outlook_adapters():
            try:
                made = adapter.subscribe(push.notification_url, push.client_state.get_secret_value())  # type: ignore[attr-defined]
            except ProviderError as exc:
                log.warning("push.subscribe_failed", mailbox=adapter.address, error=exc.kind)  # type: ignore[attr-defined]
                continue
            for subscription_id, _expires in made:
                self.graph_subscriptions.add(subscription_id, adapter.address)  # type: ignore[attr-defined]

    def _renew_graph(self) -> None:
        for subscription_id, _address in self.graph_subscriptions.items():
            self._graph_lifecycle(subscription_id, "reauthorizationRequired")

    def _graph_lifecycle(self, subscription_id: str, event: str) -> None:
        """reauthorizationRequired: renew; subscriptionRemoved: subscribe again; missed: pull now."""
        address = self.graph_subscriptions.mailbox_for(subscription_id)
        adapter = next((a for a in self._outlook_adapters() if a.address == address), None)  # type: ignore[attr-defined]
        if address is None or adapter is None:
            return
        try:
            if event == "reauthorizationRequired":
                adapter.renew(subscription_id)  # type: ignore[attr-defined]
            elif event == "subscriptionRemoved":
                self.graph_subscriptions.forget(subscription_id)
                self._subscribe_graph()
        except ProviderError as exc:
            log.warning("push.lifecycle_failed", mailbox=address, lifecycle_event=event, error=exc.kind)
        self.wakeups.wake(mailbox_source(address))   # whatever happened, catch up from the cursor

    def _idle_loop(self, box: ImapMailbox | GmailMailbox) -> None:
        """Hold IMAP IDLE on this mailbox's INBOX with its own connection; wake the scheduler on new mail."""
        mailbox = build_mailbox(self.settings, box)
        source = mailbox_source(box.address)
        while not self._stop.is_set():
            try:
                if mailbox.idle_wait(IDLE_CHUNK_SECONDS):  # type: ignore[attr-defined]
                    self.wakeups.wake(source)
            except ProviderError as exc:
                log.warning("push.idle_failed", mailbox=box.address, error=exc.kind)
                self._stop.wait(30)
        mailbox.close()
