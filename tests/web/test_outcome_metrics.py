"""Sequence outcome gauges on /metrics: the report's numbers per sequence and variant, refreshed at most every
five minutes (a controllable clock), never per scrape."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.engine.test_report_outcomes_cli import T0, config_data, event, seed
from tests.web.world import ADMIN_TOKEN, admin, served
from threadline.config.loading import parse_settings
from threadline.config.models import Settings
from threadline.connector.reports.outcome_metrics import OutcomeCollector
from threadline.connector.web.app import build_web_app
from threadline.connector.web.push.wakeups import Wakeups
from threadline.sync.events.log import record_events
from threadline.sync.store.database import Store

WHOLE = {"sequence": "welcome", "step": "", "variant": ""}


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


def settings_for(tmp_path: Path, url: str) -> Settings:
    data = config_data(url)
    data["server"]["admin_token"] = ADMIN_TOKEN
    return parse_settings(data, tmp_path / "threadline.yaml", env={})


def test_metrics_show_outcomes_per_sequence_and_variant(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    store = Store(url)
    with served(build_web_app(settings_for(tmp_path, url), Wakeups(), store=store)) as base:
        response = admin(base, "/metrics")
    store.dispose()
    assert response.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}

    def value(name: str, **labels: str) -> float | None:
        return samples.get((f"threadline_sequence_{name}", tuple(sorted(labels.items()))))

    assert (value("enrolled", **WHOLE), value("replied", **WHOLE), value("reply_rate", **WHOLE)) == (20, 3, 0.15)
    assert (value("meeting_rate", **WHOLE), value("completion_rate", **WHOLE)) == (0.05, 0.25)
    assert (value("mql_conversion", **WHOLE), value("stage_progression_rate", **WHOLE)) == (0.05, 0.05)
    assert value("median_hours_to_first_reply", **WHOLE) == 5.0
    a, b = ({"sequence": "welcome", "step": "intro", "variant": v} for v in ("a", "b"))
    assert (value("enrolled", **a), value("reply_rate", **a), value("meetings", **a)) == (10, 0.2, 1)
    assert (value("enrolled", **b), value("reply_rate", **b), value("meetings", **b)) == (10, 0.1, 0)
    assert value("mql_conversion", **b) == 0.0


def test_gauges_are_recomputed_at_most_every_five_minutes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    store, clock = Store(url), Clock()
    registry = CollectorRegistry()
    registry.register(OutcomeCollector(settings_for(tmp_path, url), store, clock.now))
    assert registry.get_sample_value("threadline_sequence_replied", WHOLE) == 3
    with store.session() as session:
        record_events(session, [event("reply.received", "c03", T0 + 3 * timedelta(hours=1))])
    clock.at += timedelta(minutes=4)
    assert registry.get_sample_value("threadline_sequence_replied", WHOLE) == 3      # the cached copy
    assert registry.get_sample_value("threadline_sequence_outcomes_age_seconds") == 240
    clock.at += timedelta(minutes=1)
    assert registry.get_sample_value("threadline_sequence_replied", WHOLE) == 4      # refreshed
    store.dispose()


def refreshing() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "outcome-gauges"]


def test_the_first_refresh_starts_with_the_server_so_the_first_scrape_finds_the_gauges(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    store = Store(url)
    with capture_logs() as logged:
        build_web_app(settings_for(tmp_path, url), Wakeups(), store=store)     # no scrape yet
        for thread in refreshing():
            thread.join(30)
    assert [e["sequences"] for e in logged if e["event"] == "metrics.outcomes_refreshed"] == [1]
    # A scrape that may not wait at all (a store so large the report takes minutes) finds that copy.
    started = OutcomeCollector(settings_for(tmp_path, url), store, Clock().now, wait=0.0)
    started.start()
    for thread in refreshing():
        thread.join(30)
    warm = CollectorRegistry()
    warm.register(started)
    assert warm.get_sample_value("threadline_sequence_replied", WHOLE) == 3
    assert warm.get_sample_value("threadline_sequence_outcomes_age_seconds") == 0
    store.dispose()


def test_without_sequences_there_are_no_outcome_gauges_and_no_refresh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    store = Store(url)
    settings = settings_for(tmp_path, url)
    settings.rules.sequences = []
    with capture_logs() as logged, served(build_web_app(settings, Wakeups(), store=store)) as base:
        text = admin(base, "/metrics").text
    store.dispose()
    assert "threadline_sequence_" not in text and not [e for e in logged if e["event"].startswith("metrics.outc")]
