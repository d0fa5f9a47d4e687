"""`threadline plan` lists the sequence steps the next hours would run, and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func
from sqlmodel import select

from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EnrollmentRow, OutboxRow

REP = "alex@northwind.example"
ALWAYS = {"start": "00:00", "end": "23:59:59.999999", "days": [0, 1, 2, 3, 4, 5, 6]}
WELCOME = {"name": "welcome", "enroll_on": "form.submitted", "window": ALWAYS, "steps": [
    {"kind": "email", "subject": "Hi {{ contact.firstname }} from {{ owner.name }}", "body": "{{ unsubscribe_url }}"},
    {"kind": "task", "subject": "Call {{ contact.firstname }}", "delay": {"hours": 4}, "task_type": "call"},
    {"kind": "email", "subject": "Re: Hi {{ contact.firstname }}", "body": "b {{ unsubscribe_url }}",
     "delay": {"days": 2}},
]}


def write_config(tmp_path: Path, url: str) -> Path:
    mailbox = {"kind": "gmail", "address": REP, "owner_id": "o1", "display_name": "Alex Morgan",
               "client_id": "cid", "client_secret": "cs", "refresh_token": "rt"}
    config = {"store": {"url": url}, "crm": {"kind": "hubspot", "token": "pat-unused", "base_url": "http://127.0.0.1:9"},
              "mailboxes": [mailbox], "rules": {"sequences": [WELCOME]},
              "server": {"public_url": "https://threadline.example", "unsubscribe_secret": "s3cret-s3cret"}}
    path = tmp_path / "threadline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def plan(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", "plan", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "220"})


def seed(store: Store, now: datetime) -> None:
    """Ada (owner o1, who has a mailbox) is due now; Bo's owner has no mailbox; Cy is due in 30 hours."""
    people = [("c1", "ada@acme.example", "Ada", "o1", now), ("c2", "bo@acme.example", "Bo", "o9", now),
              ("c3", "cy@acme.example", "Cy", "o1", now + timedelta(hours=30))]
    with store.session() as session:
        for contact_id, email, first, owner, due in people:
            session.add(ContactRow(crm_id=contact_id, primary_email=email, first_name=first, owner_id=owner,
                                   updated_at=now))
            session.add(EnrollmentRow(sequence="welcome", contact_id=contact_id, generation=1, status="active",
                                      step=0, enrolled_at=now - timedelta(minutes=5), next_due_at=due))


def test_plan_lists_upcoming_steps_with_mailbox_and_holds_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    seed(store, datetime.now(UTC))
    config = write_config(tmp_path, url)

    day = json.loads(plan(config, "--json").stdout)
    assert day["sequence_hours"] == 24
    steps = [(s["contact_id"], s["step"], s["kind"], s["mailbox"], s["note"][:5]) for s in day["sequence_steps"]]
    assert steps == [("c1", 1, "email", REP, ""), ("c2", 1, "email", None, "held:"), ("c1", 2, "task", None, "")]
    first = day["sequence_steps"][0]
    assert (first["to"], first["subject"]) == ("ada@acme.example", "Hi Ada from Alex Morgan")
    assert "o9" in day["sequence_steps"][1]["note"]                       # whose owner has no mailbox

    three_days = json.loads(plan(config, "--json", "--hours", "72").stdout)["sequence_steps"]
    assert [(s["contact_id"], s["step"]) for s in three_days] == [("c1", 1), ("c2", 1), ("c1", 2), ("c3", 1),
                                                                   ("c3", 2), ("c1", 3)]
    assert three_days[-1]["subject"] == "Re: Hi Ada"

    text = plan(config)
    assert text.returncode == 0, text.stderr
    assert "sequence steps in the next 24 hours" in text.stdout and "welcome / 2 (task)" in text.stdout
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(OutboxRow)).one() == 0
        assert {r.step for r in session.exec(select(EnrollmentRow)).all()} == {0}
    store.dispose()


def test_plan_hours_must_not_be_negative(tmp_path: Path) -> None:
    assert plan(write_config(tmp_path, f"sqlite:///{tmp_path / 's.db'}"), "--hours", "-1").returncode == 2


TESTED = {"name": "tested", "enroll_on": "form.submitted", "window": ALWAYS, "steps": [
    {"kind": "email", "name": "intro", "subject": "Hello {{ contact.firstname }}", "body": "{{ unsubscribe_url }}",
     "variants": [{"name": "benefit", "subject": "Cut onboarding in half, {{ contact.firstname }}"},
                  {"name": "question", "subject": "{{ contact.firstname }}, how long does onboarding take?"}]},
    {"kind": "email", "name": "check-in", "subject": "Re: Hello", "body": "b {{ unsubscribe_url }}",
     "delay": {"days": 2}, "branches": [{"when": {"contact.country": "DE"}, "goto": "call"}], "then": "end"},
    {"kind": "task", "name": "call", "subject": "Call {{ contact.firstname }}", "task_type": "call"},
]}


def seed_tested(store: Store, now: datetime) -> None:
    """Four enrolments at the tested intro: two on benefit, two on question; Dee (DE) is at the branching step."""
    with store.session() as session:
        for contact_id, first, variant in (("c1", "Ada", "benefit"), ("c2", "Bo", "question"),
                                           ("c3", "Cy", "question"), ("c4", "Dee", "benefit")):
            session.add(ContactRow(crm_id=contact_id, primary_email=f"{first.lower()}@acme.example", first_name=first,
                                   owner_id="o1", updated_at=now,
                                   properties=json.dumps({"country": "DE" if first == "Dee" else "US"})))
            at_branch = contact_id == "c4"
            session.add(EnrollmentRow(
                sequence="tested", contact_id=contact_id, generation=1, status="active", step=1 if at_branch else 0,
                enrolled_at=now - timedelta(days=3), last_step_at=now - timedelta(days=2, hours=1) if at_branch else None,
                next_due_at=now - timedelta(minutes=1), variants=json.dumps({"0": variant})))


def ab_config(tmp_path: Path, url: str, winner: str | None = None) -> Path:
    path = write_config(tmp_path, url)
    config = yaml.safe_load(path.read_text())
    sequence = json.loads(json.dumps(TESTED))
    if winner:
        sequence["steps"][0]["winner"] = winner
    config["rules"]["sequences"] = [sequence]
    path.write_text(yaml.safe_dump(config))
    return path


def test_plan_shows_each_variant_the_branch_taken_and_why_and_previews_ending_a_test(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    seed_tested(store, datetime.now(UTC))

    running = json.loads(plan(ab_config(tmp_path, url), "--json").stdout)
    steps = {(s["contact_id"], s["step"]): s for s in running["sequence_steps"]}
    assert (steps[("c2", 1)]["variant"], steps[("c2", 1)]["subject"]) == ("question", "Bo, how long does onboarding take?")
    assert steps[("c1", 1)]["subject"] == "Cut onboarding in half, Ada"
    call = steps[("c4", 3)]
    assert call["kind"] == "task" and call["subject"] == "Call Dee"
    assert call["branch"] == "check-in: branch 1 -> call (contact.country = DE (is DE))"
    [test] = running["ab_tests"]
    assert (test["winner"], test["split"], test["waiting"]) == (None, {"benefit": 0.5, "question": 0.5},
                                                                {"benefit": 1, "question": 2})

    ended = json.loads(plan(ab_config(tmp_path, url, winner="benefit"), "--json").stdout)
    steps = {(s["contact_id"], s["step"]): s for s in ended["sequence_steps"]}
    assert steps[("c2", 1)]["variant"] == "question"          # enrolled on question: finishes on it
    [test] = ended["ab_tests"]
    assert test["winner"] == "benefit" and test["finishing_on_other_variants"] == {"question": 2}
    text = plan(ab_config(tmp_path, url, winner="benefit"))
    assert "test ended, winner benefit: new enrolments get benefit; still finishing on their variant: 2 on question" \
        in " ".join(text.stdout.split())
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(OutboxRow)).one() == 0
