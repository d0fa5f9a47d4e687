"""Salesforce end to end: replies become completed Tasks on the right Contact/Lead once, and status shows the API budget."""

from __future__ import annotations

from pathlib import Path

from threadline.config.loading import parse_settings
from threadline.connector.demo.run import demo_config, seed_demo
from threadline.connector.monitoring.status import build_status
from threadline.connector.wiring.build import build_engine
from threadline.sandbox.server import SandboxServer


def test_replies_become_tasks_once_and_status_shows_the_daily_api_budget(sandbox: SandboxServer, tmp_path: Path) -> None:
    seeded = seed_demo(sandbox, crm="salesforce")
    settings = parse_settings(demo_config(sandbox, f"sqlite:///{tmp_path / 's.db'}", seeded, crm="salesforce"),
                              tmp_path / "t.yaml", env={})
    engine = build_engine(settings)
    first = engine.run_once()
    assert first.errors == [] and first.outbox.performed["log_email"] == 3
    assert engine.run_once().outbox.performed == {}              # nothing twice
    org = sandbox.salesforce
    tasks = [t for row in org.org.rows("Contact") + org.org.rows("Lead") for t in org.tasks_for(row["Id"])]
    assert len(tasks) == 3
    assert all(t["Status"] == "Completed" and t["TaskSubtype"] == "Email" for t in tasks)
    with engine.store.session() as session:
        [crm_source] = [s for s in build_status(session).sources if s.source == "crm:salesforce"]
    assert crm_source.budget and "API requests used today" in crm_source.budget
    engine.close()
