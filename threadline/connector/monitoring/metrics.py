"""/metrics: Prometheus text for one app, on its own registry.

Two sources. Calls, errors, throttles and sends are counted in this process as the
adapters report them (`adapters.observe`). Lag, readiness per source, outbox depth and
logged replies are read from the store at scrape time, so with several replicas they
are the same on each (take `max` across replicas, never `sum`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import structlog
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import select

from threadline.adapters import observe
from threadline.adapters.observe import CallOutcome
from threadline.config.models import Settings
from threadline.connector.monitoring.readiness import (
    SourceBudget,
    SourceHealth,
    read_health,
    source_budgets,
    source_check,
)
from threadline.sync.outbox import rows as outbox
from threadline.sync.store.database import Store
from threadline.sync.store.tables import MessageRow, OutboxRow
from threadline.sync.work.cursors import load_budget
from threadline.sync.work.holds import active_holds

log = structlog.get_logger("threadline.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LABELS = ("provider", "mailbox")


class CallCounters:
    """Counts the calls of this configuration's providers (a CallObserver)."""

    def __init__(self, registry: CollectorRegistry, settings: Settings) -> None:
        self._crm = settings.crm.kind
        self._mailboxes = {box.address for box in settings.mailboxes}
        self._sources = list(settings.mailbox_sources)
        self._connect = set(settings.connect.providers)
        self.calls = Counter("threadline_provider_calls", "Provider API calls (each attempt)", _LABELS,
                             registry=registry)
        self.errors = Counter("threadline_provider_errors", "Provider calls that failed, by error kind",
                              (*_LABELS, "kind"), registry=registry)
        self.throttles = Counter("threadline_provider_throttles",
                                 "Provider calls refused by rate limiting (429, 403 rateLimitExceeded, ...)",
                                 _LABELS, registry=registry)
        self.sends = Counter("threadline_emails_sent", "Emails the provider accepted for sending", _LABELS,
                             registry=registry)

    def call_finished(self, outcome: CallOutcome) -> None:
        if not self._ours(outcome):
            return
        labels = (outcome.provider, outcome.account)
        self.calls.labels(*labels).inc()
        if outcome.error is not None:
            self.errors.labels(*labels, outcome.error).inc()
        if outcome.throttled:
            self.throttles.labels(*labels).inc()
        if outcome.operation == "send" and outcome.error is None:
            self.sends.labels(*labels).inc()

    def _ours(self, outcome: CallOutcome) -> bool:
        # Another app in the same process (tests) may share a mailbox address, not this CRM *and* address.
        # Found and connected mailboxes are ours when a source covers them or their provider takes connect links.
        return (outcome.account in self._mailboxes or (outcome.account == "" and outcome.provider == self._crm)
                or (outcome.account != "" and outcome.provider in self._connect)
                or any(source.kind == outcome.provider and source.covers(outcome.account)
                       for source in self._sources))


class StoreCollector(Collector):
    """Lag, readiness per source, outbox depth and logged replies, read from the store at each scrape."""

    def __init__(self, store: Store, budgets: list[SourceBudget], started_at: datetime) -> None:
        self.store = store
        self.budgets = budgets
        self.started_at = started_at

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("threadline_store_up", "1 when the store answered this scrape")
        try:
            families = list(self._from_store())
        except Exception as exc:  # noqa: BLE001 - a scrape reports a down store, it does not fail
            log.warning("metrics.store_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_store(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        yield from self._sources(now)
        yield from self._outbox(now)
        yield self._holds(now)
        yield self._replies()
        yield from self._daily_budget(now)

    def _sources(self, now: datetime) -> Iterator[Metric]:
        lag = GaugeMetricFamily("threadline_sync_lag_seconds", "Seconds since the source last synced successfully",
                                labels=_LABELS)
        ready = GaugeMetricFamily("threadline_source_ready", "1 while the source's last success is within its "
                                  "budget (as /readyz judges)", labels=_LABELS)
        health = read_health(self.store, [b.source for b in self.budgets], error_kinds=False)
        for budget in self.budgets:
            known = health.get(budget.source, SourceHealth())
            labels = [budget.provider, budget.mailbox]
            if known.last_success_at is not None:
                lag.add_metric(labels, (now - _aware(known.last_success_at)).total_seconds())
            check = source_check(budget, known, now=now, started_at=self.started_at)
            ready.add_metric(labels, 1.0 if check.ok else 0.0)
        yield lag
        yield ready

    def _outbox(self, now: datetime) -> Iterator[Metric]:
        depth = GaugeMetricFamily("threadline_outbox_rows", "Outbox rows by kind and status (pending, in_flight and "
                                  "failed are the queue; done were performed)", labels=("kind", "status"))
        with self.store.session() as session:
            rows = session.exec(select(OutboxRow.kind, OutboxRow.status, func.count())
                                .group_by(OutboxRow.kind, OutboxRow.status)).all()
            oldest = outbox.oldest_pending(session)
        for kind, status, count in rows:
            depth.add_metric([kind, status], float(count))
        age = GaugeMetricFamily("threadline_outbox_oldest_unfinished_seconds",
                                "Age of the oldest outbox row not yet done (0 when none)")
        age.add_metric([], (now - _aware(oldest)).total_seconds() if oldest else 0.0)
        yield depth
        yield age

    def _holds(self, now: datetime) -> Metric:
        family = GaugeMetricFamily("threadline_source_held_seconds", "Seconds until a source's writes may go again, "
                                   "held by a throttle longer than a lease (HubSpot DAILY, a long Retry-After); "
                                   "absent when nothing is held", labels=("source",))
        with self.store.session() as session:
            for hold in active_holds(session, now):
                family.add_metric([hold.source], (_aware(hold.held_until) - now).total_seconds())
        return family

    def _replies(self) -> Metric:
        family = GaugeMetricFamily("threadline_replies_logged", "Messages logged onto CRM contacts, per mailbox, "
                                   "as kept in the store (retention window)", labels=("mailbox",))
        with self.store.session() as session:
            rows = session.exec(select(MessageRow.mailbox, func.count()).where(MessageRow.decision == "logged")
                                .group_by(MessageRow.mailbox)).all()
        for mailbox, count in rows:
            family.add_metric([mailbox], float(count))
        return family


    def _daily_budget(self, now: datetime) -> Iterator[Metric]:
        """The CRM's daily API budget as its answers last stated it, the reserve the contact pull leaves, and
        whether that pull is paused at it (absent before the CRM first stated a budget)."""
        families = {name: GaugeMetricFamily(f"threadline_crm_daily_{name}", text, labels=("provider",))
                    for name, text in (("limit", "The CRM's daily API request limit"),
                                       ("remaining", "Daily API requests left, as the CRM last stated it"),
                                       ("reserve", "Daily API requests the contact pull leaves alone"),
                                       ("paused", "1 while the contact pull is paused at the daily reserve"))}
        crm = self.budgets[0]          # source_budgets lists the CRM first
        with self.store.session() as session:
            state = load_budget(session, crm.source)
        if state is not None:
            paused = state.paused_until is not None and _aware(state.paused_until) > now
            for name, value in (("limit", state.limit), ("remaining", state.remaining),
                                ("reserve", state.reserve), ("paused", int(paused))):
                families[name].add_metric([crm.provider], float(value))
        yield from families.values()


class TeamCollector(Collector):
    """How many of the team's mailboxes are in each state, by where they came from (config, crm_owners,
    connected): one series per (source, state), not per mailbox, so a team of thousands stays cheap to scrape."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store

    def collect(self) -> Iterator[Metric]:
        from threadline.connector.monitoring.team_mailboxes import mailbox_lines

        family = GaugeMetricFamily("threadline_team_mailboxes", "Mailboxes by source and state",
                                   labels=["source", "state"])
        try:
            lines = mailbox_lines(self.settings, store=self.store)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer; the store's own gauges say it is down
            log.warning("metrics.team_unavailable", error=type(exc).__name__)
            return
        counts: dict[tuple[str, str], int] = {}
        for line in lines:
            counts[(line.source, line.state)] = counts.get((line.source, line.state), 0) + 1
        for (source, state), count in sorted(counts.items()):
            family.add_metric([source, state], count)
        yield family


class Metrics:
    """The registry of one app: call counters (watching the adapters), the store and team collectors, and any
    `collectors` from the layers above (the sequence outcome gauges, reports/outcome_metrics.py)."""

    def __init__(self, settings: Settings, store: Store, started_at: datetime,
                 collectors: Sequence[Collector] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.counters = CallCounters(self.registry, settings)
        self.registry.register(StoreCollector(store, source_budgets(settings), started_at))
        self.registry.register(TeamCollector(settings, store))
        for collector in collectors:
            self.registry.register(collector)
        observe.watch(self.counters)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric, as of now."""
        return generate_latest(self.registry)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
