"""/metrics after real syncs against the sandbox: calls, errors, throttles, lag, outbox depth, replies and sends."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.engine.world import reply, seed_contacts
from tests.fixtures.sandbox import gmail_on
from tests.web.world import admin, web_settings, world
from threadline.adapters import observe
from threadline.adapters.sending import OutgoingEmail
from threadline.connector.demo.world import REP
from threadline.connector.monitoring.metrics import CallCounters
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """sample name + sorted labels -> value, parsed with prometheus_client's own parser."""
    response = admin(url, "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_after_a_sync_with_throttling(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    seed_contacts(sandbox, 2)
    sandbox.gmail.deliver(REP, reply("buyer0@customer0.example", REP, 1))
    sandbox.faults.add(Fault(provider="hubspot", kind="throttle", delay=0.1, count=2))
    sandbox.faults.add(Fault(provider="gmail", kind="throttle", delay=0.1, count=1, path_prefix="/gmail/v1/"))
    with world(web_settings(sandbox, sqlite_url, tmp_path)) as (engine, url):
        summary = engine.run_once()
        assert summary.errors == [] and summary.outbox.performed.get("log_email") == 1
        m = scrape(url)
        gmail, hubspot = {"provider": "gmail", "mailbox": REP}, {"provider": "hubspot", "mailbox": ""}
        assert value(m, "threadline_provider_calls_total", **gmail) >= 3        # profile/history, list, batch get
        assert value(m, "threadline_provider_calls_total", **hubspot) >= 3
        assert value(m, "threadline_provider_throttles_total", **hubspot) == 2
        assert value(m, "threadline_provider_throttles_total", **gmail) == 1
        assert value(m, "threadline_provider_errors_total", kind="RateLimited", **hubspot) == 2
        assert value(m, "threadline_provider_errors_total", kind="RateLimited", **gmail) == 1
        assert 0 <= value(m, "threadline_sync_lag_seconds", **gmail) < 30
        assert ("threadline_sync_lag_seconds", tuple(sorted(hubspot.items()))) in m
        assert value(m, "threadline_source_ready", **gmail) == 1 and value(m, "threadline_store_up") == 1
        assert value(m, "threadline_outbox_rows", kind="log_email", status="done") == 1
        assert value(m, "threadline_replies_logged", mailbox=REP) == 1

        sandbox.faults.add(Fault(provider="gmail", kind="error", status=403, count=10_000, path_prefix="/gmail/v1/"))
        engine.run_once()
        broken = scrape(url)
        assert value(broken, "threadline_provider_errors_total", kind="PermanentError", **gmail) >= 1
        assert value(broken, "threadline_provider_calls_total", **gmail) > value(m, "threadline_provider_calls_total",
                                                                                 **gmail)


def test_a_send_from_the_mailbox_is_counted(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    counters = CallCounters(registry, web_settings(sandbox, sqlite_url, tmp_path))
    observe.watch(counters)
    email = OutgoingEmail(key="k1", message_id="<m1@northwind.example>", from_address=REP,
                          to=("buyer0@customer0.example",), subject="Hello", text="Hi there")
    with gmail_on(sandbox, REP) as gmail:
        gmail.send(email)
    labels = {"provider": "gmail", "mailbox": REP}
    assert registry.get_sample_value("threadline_emails_sent_total", labels) == 1
    assert registry.get_sample_value("threadline_provider_calls_total", labels) == 1
