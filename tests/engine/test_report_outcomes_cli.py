"""`threadline report` outcome metrics, A/B variant tables and branch counts, read from a real store (rows written
the way the engine writes them), through the command line: text, --json, --html, and the window flags."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from threadline.connector.reports.sequence_report import build_report
from threadline.rules.sequences import SequenceSettings, step_key
from threadline.rules.sequences.reporting.outcomes import OutcomeRules
from threadline.rules.sequences.reporting.settings import ReportingSettings, stage_order
from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event, event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, EnrollmentRow, OutboxRow

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
#: Inside the default window (enrolments of the last 30 days), whatever day the suite runs.
T0 = datetime.now(UTC).replace(microsecond=0) - 10 * DAY
OLD = T0 - 60 * DAY
CONTACTS = [f"c{i:02d}" for i in range(20)]
SEQUENCE: dict[str, Any] = {
    "name": "welcome", "enroll_on": "form.submitted",
    "steps": [{"kind": "email", "name": "intro", "subject": "Hi", "body": "Hello",
               "variants": [{"name": "a", "subject": "Hi there"}, {"name": "b", "subject": "Quick question"}]},
              {"kind": "email", "name": "nudge", "subject": "Re: Hi", "body": "Any thoughts?", "delay": {"days": 2},
               "branches": [{"when": {"contact.lifecyclestage": {"in": ["salesqualifiedlead"]}}, "goto": "end"}]},
              {"kind": "task", "name": "call", "subject": "Call", "delay": {"days": 1}}]}
SCORING = {"rules": [{"name": "replied", "event": "reply.received", "points": 10}],
           "custom_events": ["form.submitted"],
           "tiers": [{"name": "cold", "min": 0}, {"name": "mql", "min": 50}]}


def config_data(url: str, scoring: bool = True) -> dict[str, Any]:
    rules: dict[str, Any] = {"sequences": [SEQUENCE], **({"scoring": SCORING} if scoring else {})}
    return {"store": {"url": url}, "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"},
            "server": {"public_url": "https://threadline.example", "unsubscribe_secret": "s3cret-s3cret"},
            "rules": rules}


def config_for(tmp_path: Path, url: str, scoring: bool = True) -> Path:
    path = tmp_path / ("with-scoring.yaml" if scoring else "no-scoring.yaml")
    path.write_text(yaml.safe_dump(config_data(url, scoring)))
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "report", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "220"})


def sent(contact: str, step: int, at: datetime, variant: str | None, generation: int = 1) -> OutboxRow:
    key = step_key("welcome", contact, generation, step)
    payload = {"sequence": "welcome", "generation": generation, "step_index": step, "last_step": False,
               "variant": variant, "mailbox": "alex@northwind.example", "email": {"key": key},
               "sent": {"provider_id": f"p-{key[:8]}", "thread_id": None, "at": at.isoformat(), "confirmed": True}}
    return OutboxRow(key=key, kind="send_email", contact_id=contact, payload=json.dumps(payload), status="done")


def event(type_: str, contact: str, at: datetime, **data: Any) -> Event:
    return Event(id=event_id(type_, contact, at.isoformat(), json.dumps(data, sort_keys=True)), type=type_,
                 contact_id=contact, occurred_at=at, source="test", data=data)


def score_write(contact: str, at: datetime, total: int) -> AuditRow:
    return AuditRow(at=at, rule="scoring", contact_id=contact, effect_key=f"score-{contact}-{total}",
                    kind="set_fields", reason="score", detail=json.dumps({"fields": {"threadline_score": total}}))


def seed(url: str) -> None:
    """20 enrolments: even contacts got variant a, odd ones b. a: c00 replied (1 h) and c02 (2 days); b: c01
    (5 h). c00 booked a meeting and crossed the MQL score 50; c02 moved lead -> salesqualifiedlead. c00..c04
    completed. Branches at step 2: c00 and c02 took branch 1 (end), c01 the default. c19 has an older enrolment,
    outside the default window."""
    rows: list[Any] = []
    for i, contact in enumerate(CONTACTS):
        variant = "a" if i % 2 == 0 else "b"
        rows.append(EnrollmentRow(sequence="welcome", contact_id=contact, generation=2 if contact == "c19" else 1,
                                  status="completed" if i < 5 else "active", step=3 if i < 5 else 1, enrolled_at=T0,
                                  variants=json.dumps({"0": variant})))
        rows.append(sent(contact, 0, T0 + HOUR, variant, 2 if contact == "c19" else 1))
    rows += [EnrollmentRow(sequence="welcome", contact_id="c19", generation=1, status="completed", step=3,
                           enrolled_at=OLD, variants=json.dumps({"0": "a"})),
             sent("c19", 0, OLD + HOUR, "a"), score_write("c00", T0 - DAY, 10), score_write("c00", T0 + DAY, 60)]
    store = Store(url)
    with store.session() as session:
        session.add_all(rows)
        record_events(session, [
            event("reply.received", "c00", T0 + 2 * HOUR), event("meeting.booked", "c00", T0 + 2 * DAY),
            event("reply.received", "c02", T0 + 2 * DAY + HOUR), event("reply.received", "c01", T0 + 6 * HOUR),
            event("reply.received", "c19", OLD + 2 * HOUR),
            event("contact.updated", "c02", T0 + 3 * DAY, field="lifecyclestage", old="lead", new="salesqualifiedlead"),
            *[event("sequence.branched", contact, T0 + 2 * DAY, sequence="welcome", generation=1, step=1,
                    to=None if branch else 2, branch=branch, goto="end" if branch else "call", why="test")
              for contact, branch in (("c00", 1), ("c02", 1), ("c01", 0))]])
    store.dispose()


def test_outcomes_variants_and_branches_in_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    result = cli(config_for(tmp_path, url))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "each followed for 30 days" in out
    assert ("outcomes: reply rate 15% (3/20 reached), meetings 5% (1/20 enrolled), completed 25% (5/20), "
            "stage progression 5% (1/20), MQL conversion 5% (1/20 below 50 at the start)") in out
    assert "moved forward to (highest stage reached): salesqualifiedlead 1" in out
    assert "note: only 5% of enrolments reached MQL (score 50)" in out
    assert "welcome A/B test at intro" in out
    assert re.search(r"│ a\s+│\s+10 │\s+2 │\s+20% │\s+6%..51% │\s+1 │", out), out
    assert re.search(r"│ b\s+│\s+10 │\s+1 │\s+10% │", out)
    assert "b vs a: not enough data: " in out and "inflates false positives" in out
    assert "branches at nudge: branch 1 -> end: 2, default -> call: 1" in out


def test_json_html_and_window_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    config = config_for(tmp_path, url)
    html_path = tmp_path / "report.html"
    result = cli(config, "--json", "--html", str(html_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["window"]["follow_days"] == 30 and data["window"]["mql_threshold"] == 50
    assert data["window"]["stage_field"] == "lifecyclestage"
    welcome = data["sequences"][0]
    outcomes = welcome["outcomes"]
    assert (outcomes["enrolled"], outcomes["reached"], outcomes["replied"], outcomes["meetings"]) == (20, 20, 3, 1)
    assert (outcomes["reply_rate"], outcomes["meeting_rate_of_enrolled"], outcomes["completion_rate"]) == \
        (0.15, 0.05, 0.25)
    assert (outcomes["mql_eligible"], outcomes["mql_crossed"], outcomes["mql_conversion"]) == (20, 1, 0.05)
    assert outcomes["stage_reached"] == {"salesqualifiedlead": 1} and outcomes["stage_progression_rate"] == 0.05
    assert outcomes["median_hours_to_first_reply"] == 5.0                   # 1 h, 5 h, 2 days
    assert len(welcome["notes"]) == 1
    [test] = welcome["ab_tests"]
    assert (test["step"], test["step_name"]) == (1, "intro")
    assert [(v["name"], v["sends"], v["replies"], v["meetings"]) for v in test["variants"]] == \
        [("a", 10, 2, 1), ("b", 10, 1, 0)]
    [verdict] = test["verdicts"]
    assert (verdict["baseline"], verdict["challenger"]) == ("a", "b") and verdict["difference"] == -0.1
    assert verdict["verdict"].startswith("not enough data") and test["caveat"]
    assert welcome["branches"] == [{"step": 2, "step_name": "nudge", "taken": [
        {"branch": 1, "default": False, "goto": "end", "count": 2},
        {"branch": None, "default": True, "goto": "call", "count": 1}]}]

    html = html_path.read_text()
    assert "A/B test at intro" in html and "Branches at nudge" in html and "salesqualifiedlead" in html
    assert html.count("<svg") == 4            # funnel, stages reached, reply rate per variant, replies per day
    assert "<script" not in html and "inflates false positives" in html

    wider = json.loads(cli(config, "--json", "--window", "90d").stdout)["sequences"][0]["outcomes"]
    assert (wider["enrolled"], wider["replied"]) == (21, 4)                 # c19's older enrolment too
    short = json.loads(cli(config, "--json", "--follow", "1d").stdout)["sequences"][0]["ab_tests"][0]
    assert [v["replies"] for v in short["variants"]] == [1, 1]              # c02's reply came after a day
    assert cli(config, "--window", "soon").returncode == 2


def test_without_scoring_the_report_says_no_mql_threshold(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    result = cli(config_for(tmp_path, url, scoring=False))
    assert result.returncode == 0, result.stderr
    assert "MQL conversion: no MQL threshold configured" in result.stdout and "note:" not in result.stdout


def test_the_store_reads_add_up_the_same_on_every_store_and_batch_size(store_url: str) -> None:
    seed(store_url)
    store = Store(store_url)
    rules = OutcomeRules(follow=30 * DAY, mql_threshold=50, stages=stage_order(ReportingSettings(), "hubspot"))
    configured = [SequenceSettings.model_validate(SEQUENCE)]
    report = build_report(store, configured, since=T0 - DAY, rules=rules, score_field="threadline_score")
    welcome = report.outcomes["welcome"]
    overall = welcome.overall
    assert (overall.enrolled, overall.replied, overall.meetings, overall.mql_crossed, overall.progressed) == \
        (20, 3, 1, 1, 1)
    assert {name: (o.reached, o.replied) for name, o in welcome.variants[0].items()} == {"a": (10, 2), "b": (10, 1)}
    assert sum(report.branches.values()) == 3
    assert build_report(store, configured, since=T0 - DAY, rules=rules, score_field="threadline_score",
                        batch=3) == report                                  # counted in batches, added up
    store.dispose()
