"""`threadline report`: numbers read from a real store (SQLite and PostgreSQL), terminal/JSON/HTML output, flags."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from threadline.connector.reports.sequence_report import build_report
from threadline.rules.sequences import SequenceSettings, step_key
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import EnrollmentRow, OutboxRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
EMAIL = {"kind": "email", "subject": "Hi {{ contact.firstname | default('there') }}", "body": "Hello"}
SEQUENCES: list[dict[str, Any]] = [
    {"name": "welcome", "enroll_on": "form.submitted",
     "steps": [EMAIL, {**EMAIL, "delay": {"days": 2}}, {"kind": "task", "subject": "Call", "delay": {"days": 1}}]},
    {"name": "nurture", "enroll_on": "page.visited", "on_reply": "pause", "steps": [EMAIL, EMAIL]},
]


def config_for(tmp_path: Path, store_url: str, sequences: list[dict[str, Any]]) -> Path:
    config = {"store": {"url": store_url},
              "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"},
              "server": {"public_url": "https://threadline.example", "unsubscribe_secret": "s3cret-s3cret"},
              "rules": {"sequences": sequences}}
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "report", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def enrollment(sequence: str, contact: str, status: str, step: int, *, at: datetime = T0,
               reason: str | None = None) -> EnrollmentRow:
    return EnrollmentRow(sequence=sequence, contact_id=contact, generation=1, status=status, step=step,
                         enrolled_at=at, exit_reason=reason)


def send_row(sequence: str, contact: str, step: int, at: datetime, status: str = "done") -> OutboxRow:
    key = step_key(sequence, contact, 1, step)
    payload = {"sequence": sequence, "generation": 1, "step_index": step, "last_step": False,
               "mailbox": "alex@northwind.example", "email": {"key": key},
               "sent": {"provider_id": f"p-{key[:8]}", "thread_id": None, "at": at.isoformat(), "confirmed": True}}
    return OutboxRow(key=key, kind="send_email", contact_id=contact, payload=json.dumps(payload), status=status)


def task_row(key: str, contact: str, at: datetime) -> OutboxRow:
    return OutboxRow(key=key, kind="create_task", contact_id=contact, status="done", updated_at=at,
                     payload=json.dumps({"key": key, "contact_id": contact, "subject": "Call"}))


def event(type_: str, contact: str, at: datetime) -> Event:
    return Event(id=event_id(type_, contact, at.isoformat()), type=type_, contact_id=contact, occurred_at=at,
                 source="test")


def seed(store: Store) -> None:
    """welcome: c1 replied to step 2, c2 bounced on step 1, c3 completed (task included), c4 active after
    step 1; nurture: c5 paused by a reply to step 1. Rows that are not finished sends must not count."""
    with store.session() as session:
        session.add_all([
            enrollment("welcome", "c1", "exited", 2, reason="replied"),
            enrollment("welcome", "c2", "exited", 1, reason="bounced"),
            enrollment("welcome", "c3", "completed", 3),
            enrollment("welcome", "c4", "active", 1),
            enrollment("nurture", "c5", "paused", 1, at=T0 + 5 * DAY, reason="replied"),
            send_row("welcome", "c1", 0, T0 + HOUR), send_row("welcome", "c1", 1, T0 + 2 * DAY + HOUR),
            send_row("welcome", "c2", 0, T0 + HOUR),
            send_row("welcome", "c3", 0, T0 + HOUR), send_row("welcome", "c3", 1, T0 + 2 * DAY + HOUR),
            task_row(step_key("welcome", "c3", 1, 2), "c3", T0 + 3 * DAY + HOUR),
            send_row("welcome", "c4", 0, T0 + HOUR),
            send_row("welcome", "c4", 1, T0 + 2 * DAY + HOUR, status="cancelled"),    # stopped: not sent
            send_row("nurture", "c5", 0, T0 + 5 * DAY + HOUR),
            send_row("nurture", "c5", 1, T0 + 7 * DAY, status="pending"),             # not sent yet
            task_row("reply-task-c1", "c1", T0 + 2 * DAY + 6 * HOUR),                  # not a step
        ])
        record_events(session, [
            event("reply.received", "c1", T0 + 2 * DAY + 4 * HOUR),
            event("bounce.received", "c2", T0 + 2 * HOUR),
            event("reply.received", "c5", T0 + 5 * DAY + 3 * HOUR),
            event("meeting.booked", "c5", T0 + 6 * DAY),
        ])


def test_numbers_per_sequence_and_step_come_from_the_store(store_url: str) -> None:
    store = Store(store_url)
    seed(store)
    configured = [SequenceSettings.model_validate(s) for s in SEQUENCES]
    report = build_report(store, configured)
    nurture, welcome = report.sequences
    assert (welcome.enrolled, welcome.active, welcome.completed, welcome.exited) == \
        (4, 1, 1, {"replied": 1, "bounced": 1})
    assert (welcome.sent, welcome.replied, welcome.bounced, welcome.reached) == (7, 1, 1, 4)
    assert welcome.median_time_to_first_reply == 2 * DAY + 3 * HOUR
    assert [(s.index, s.sent, s.replied, s.bounced) for s in welcome.steps] == [(0, 4, 0, 1), (1, 2, 1, 0),
                                                                                 (2, 1, 0, 0)]
    assert (nurture.enrolled, nurture.paused, nurture.sent, nurture.replied, nurture.meetings) == (1, 1, 1, 1, 1)
    assert [(s.index, s.sent) for s in nurture.steps] == [(0, 1), (1, 0)]      # configured step 2 shows as 0
    assert report.replies_per_day == {(T0 + 2 * DAY).date(): 1, (T0 + 5 * DAY).date(): 1}

    # Read one contact at a time and added up, the numbers are the same (the report streams the store).
    assert build_report(store, configured, batch=1) == report
    only_late = build_report(store, configured, since=T0 + DAY)
    assert [(s.name, s.enrolled) for s in only_late.sequences] == [("nurture", 1), ("welcome", 0)]
    assert [s.name for s in build_report(store, configured, sequence="welcome").sequences] == ["welcome"]
    store.dispose()


def test_report_prints_writes_self_contained_html_and_filters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(Store(url))
    config = config_for(tmp_path, url, SEQUENCES)

    everything = ("--since", (T0 - DAY).strftime("%Y-%m-%d"))          # the seed is older than the default window
    text = cli(config, *everything)
    assert text.returncode == 0, text.stderr
    assert "welcome: 4 enrolled: 1 active, 0 paused, 1 completed; exited: bounced 1, replied 1" in text.stdout
    assert "sent 7, replied 1 (reply rate 25%, median time to first reply 2.1 days)" in text.stdout
    assert re.search(r"│ 2\s+│ email\s+│\s+2 │\s+1 │\s+0 │\s+0 │", text.stdout)       # welcome step 2 row
    assert re.search(r"│ 3\s+│ task\s+│\s+1 │", text.stdout)

    html_path = tmp_path / "report.html"
    as_json = cli(config, "--json", "--sequence", "nurture", "--html", str(html_path), *everything)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [s["name"] for s in data["sequences"]] == ["nurture"]
    assert data["sequences"][0]["median_hours_to_first_reply"] == 2.0
    html = html_path.read_text()
    assert "nurture" in html and html.count("<svg") == 2 and "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<link" not in html and "@import" not in html and "url(" not in html

    since = json.loads(cli(config, "--json", "--since", (T0 + DAY).strftime("%Y-%m-%d")).stdout)
    assert {s["name"]: s["enrolled"] for s in since["sequences"]} == {"nurture": 1, "welcome": 0}


def test_nothing_configured_or_nothing_enrolled_says_so_and_exits_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    bare = cli(config_for(tmp_path, url, []))
    assert bare.returncode == 0 and "no sequences configured" in bare.stdout
    configured = cli(config_for(tmp_path, url, SEQUENCES), "--html", str(tmp_path / "r.html"))
    assert configured.returncode == 0 and "no enrollments yet for nurture, welcome" in configured.stdout
    assert (tmp_path / "r.html").exists()


@pytest.mark.parametrize("flags", [["--since", "last tuesday"], ["--sequence", "nope"], ["--frobnicate"]])
def test_bad_flags_exit_2(tmp_path: Path, flags: list[str]) -> None:
    result = cli(config_for(tmp_path, f"sqlite:///{tmp_path / 's.db'}", SEQUENCES), *flags)
    assert result.returncode == 2, result.stdout + result.stderr
