"""`threadline sequence stop|resume`: a manual stop exits, a resume wakes a reply-paused enrollment."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from tests.engine.test_plan_sequences import WELCOME, write_config
from threadline.config.loading import load_settings
from threadline.connector.wiring.build import sequence_runner
from threadline.rules.runner import compile_rules
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EnrollmentRow, OutboxRow


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "sequence", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_stop_exits_and_resume_wakes_a_paused_enrollment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    start = datetime.now(UTC) - timedelta(hours=1)
    with store.session() as session:
        for cid, email in (("c1", "ada@acme.example"), ("c2", "bo@acme.example")):
            session.add(ContactRow(crm_id=cid, primary_email=email, first_name="A", owner_id="o1", updated_at=start))
        record_events(session, [Event(id=event_id("form", cid), type="form.submitted", contact_id=cid,
                                      occurred_at=start, source="api") for cid in ("c1", "c2")])
        # Bo replied after enrolment: with on_reply: pause his enrollment waits for a manual resume.
        record_events(session, [Event(id="reply-bo", type="reply.received", contact_id="c2",
                                      occurred_at=start + timedelta(minutes=30), source="mailbox:x")])
    config = write_config(tmp_path, url)
    text = config.read_text().replace("name: welcome", "name: welcome\n    on_reply: pause")
    config.write_text(text)
    settings = load_settings(str(config))
    runner = sequence_runner(settings, store, compile_rules(settings.rules).sequencer, lambda box: True, dict)
    runner.run(start)                               # both enrolled, step 1 intended
    runner.run(start + timedelta(minutes=40))       # Bo's reply pauses him

    assert cli(config, "stop", "c1").returncode == 0
    assert cli(config, "resume", "c2", "--sequence", "welcome").returncode == 0
    now = datetime.now(UTC) + timedelta(seconds=1)
    runner.run(now)

    with store.session() as session:
        states = {r.contact_id: (r.status, r.exit_reason) for r in session.exec(select(EnrollmentRow)).all()}
        cancelled_or_pending = {r.contact_id: r.status for r in session.exec(
            select(OutboxRow).where(OutboxRow.kind == "send_email")).all()}
    assert states["c1"] == ("exited", "manual")
    assert states["c2"][0] == "active"
    assert cancelled_or_pending["c2"] == "pending"


def test_unknown_sequence_or_contact_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    Store(url)
    config = write_config(tmp_path, url)
    wrong = cli(config, "stop", "c1", "--sequence", "nope")
    assert wrong.returncode == 2 and "no sequence 'nope'" in wrong.stderr and WELCOME["name"] in wrong.stderr
    missing = cli(config, "stop", "nobody@acme.example")
    assert missing.returncode == 1 and "no contact" in missing.stderr
