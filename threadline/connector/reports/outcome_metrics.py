"""Sequence outcome gauges for /metrics: the numbers of `threadline report` (its default window: enrolments of the
last rules.reporting.window_days, each followed follow_days) per sequence and per A/B variant.

Computing them reads the store in contact batches, far more than a scrape should, so they are recomputed at most
once per ``every`` (five minutes by default), in a thread of their own, and served from that copy in between; a
failed refresh keeps serving the last good copy. Labels: ``sequence``, ``step`` and ``variant`` (both "" for the whole sequence), so the series
count is bounded by the config (sequences x tested steps x variants), never by contacts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from threadline.config.models import Settings
from threadline.connector.reports.outcome_report import label, step_labels, variant_tests
from threadline.connector.reports.report_model import SequenceReport
from threadline.connector.reports.report_window import ReportWindow, outcome_rules, score_field
from threadline.connector.reports.sequence_report import build_report
from threadline.rules.sequences.reporting.outcomes import Outcomes
from threadline.sync.store.database import Store

log = structlog.get_logger("threadline.metrics")
REFRESH_EVERY = timedelta(minutes=5)
_LABELS = ("sequence", "step", "variant")

#: gauge name suffix -> (help, how to read it from Outcomes); a None reading (no denominator yet) is left out.
_GAUGES: dict[str, tuple[str, Callable[[Outcomes], float | None]]] = {
    "enrolled": ("Enrolments in the report window (per variant: those whose tested step went out with it)",
                 lambda o: o.enrolled),
    "reached": ("Enrolments that got at least one send within the follow window", lambda o: o.reached),
    "replied": ("Enrolments with a reply within the follow window", lambda o: o.replied),
    "meetings": ("Enrolments with a meeting booked within the follow window", lambda o: o.meetings),
    "reply_rate": ("Replied / reached", lambda o: o.reply_rate),
    "meeting_rate": ("Enrolments with a meeting booked / enrolled", lambda o: o.meeting_rate),
    "completion_rate": ("Enrolments that ran every step / enrolled", lambda o: o.completion_rate),
    "stage_progression_rate": ("Enrolments whose stage moved forward / enrolled", lambda o: o.progression_rate),
    "mql_conversion": ("Enrolments that crossed the MQL threshold / those below it at the start",
                       lambda o: o.mql_conversion),
    "median_hours_to_first_reply": ("Median hours from the first send to the first reply",
                                    lambda o: None if o.median_time_to_first_reply is None
                                    else o.median_time_to_first_reply.total_seconds() / 3600),
}


class OutcomeCollector(Collector):
    """The outcome gauges, refreshed from the store at most once per ``every`` (``clock``: injectable).

    A refresh runs in its own thread: a scrape waits for it at most ``wait`` seconds, then answers with the last
    good copy, so a slow report never makes a scrape time out. The server starts the first refresh as it starts
    (``start``), so only a scrape in the first minutes of a large store finds no copy yet.
    ``threadline_sequence_outcomes_age_seconds`` says how old the served copy is."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 every: timedelta = REFRESH_EVERY, wait: float = 2.0) -> None:
        self.settings, self.store, self.clock, self.every, self.wait = settings, store, clock, every, wait
        self._lock = threading.Lock()
        self._families: list[Metric] = []
        self._computed_at: datetime | None = None
        self._started_at: datetime | None = None
        self._running: threading.Thread | None = None

    def start(self) -> None:
        """Begin the first refresh now, without waiting for it: the server calls this as it starts, so that the
        first scrape of a large store already finds the gauges (or finds them sooner)."""
        self._start_if_due(self.clock())

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        running = self._start_if_due(now)
        if running is not None:
            running.join(self.wait)
        with self._lock:
            families, computed_at = list(self._families), self._computed_at
        yield from families
        if computed_at is not None:
            age = GaugeMetricFamily("threadline_sequence_outcomes_age_seconds",
                                    "Seconds since the sequence outcome gauges were computed")
            age.add_metric([], max((now - computed_at).total_seconds(), 0.0))
            yield age

    def _start_if_due(self, now: datetime) -> threading.Thread | None:
        """Start a refresh when the last one began ``every`` ago (or none has); returns the one running, if any."""
        with self._lock:
            due = self._started_at is None or now - self._started_at >= self.every
            if due and self._running is None:
                self._started_at = now
                self._running = threading.Thread(target=self._refresh, args=(now,), name="outcome-gauges",
                                                 daemon=True)
                self._running.start()
            return self._running

    def _refresh(self, now: datetime) -> None:
        try:
            self.store.refresh_statistics(now)      # at most hourly; the first refresh may precede the daemon's
            started = time.monotonic()
            report = self._report(now)
            families = gauges(report)
            log.info("metrics.outcomes_refreshed", sequences=len(report.sequences),
                     seconds=round(time.monotonic() - started, 2))
        except Exception as exc:  # noqa: BLE001 - a scrape must answer; threadline_store_up says the store is down
            log.warning("metrics.outcomes_unavailable", error=type(exc).__name__)
            families = None
        with self._lock:
            if families is not None:
                self._families, self._computed_at = families, now
            self._running = None

    def _report(self, now: datetime) -> SequenceReport:
        window = ReportWindow.choose(self.settings, now)
        return build_report(self.store, self.settings.rules.sequences, since=window.since,
                            rules=outcome_rules(self.settings, window.follow), score_field=score_field(self.settings))


def gauges(report: SequenceReport) -> list[Metric]:
    """One family per outcome, a series per sequence and per variant of each of its A/B-tested steps."""
    families = {name: GaugeMetricFamily(f"threadline_sequence_{name}", text, labels=_LABELS)
                for name, (text, _) in _GAUGES.items()}
    for stats in report.sequences:
        rows = [(("", ""), report.outcomes[stats.name].overall)] if stats.name in report.outcomes else []
        labels = step_labels(report.configured, stats.name)
        rows += [((label(labels, test.step), row.name), row.outcomes)
                 for test in variant_tests(report, stats.name) for row in test.variants]
        for (step, variant), outcomes in rows:
            for name, (_, read) in _GAUGES.items():
                value = read(outcomes)
                if value is not None:
                    families[name].add_metric([stats.name, step, variant], float(value))
    return list(families.values())
