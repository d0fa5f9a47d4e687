"""The example sequences in config/sequences/ compile and behave as their comments say."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import Enrollment, SequenceSettings, compile_sequences
from threadline.sync.events.records import Event, event_id

EXAMPLES = Path(__file__).parents[3] / "config" / "sequences" / "examples.yaml"
CUSTOM_EVENTS = {"page.visited", "form.submitted", "meeting.completed"}


def load():
    data = yaml.safe_load(EXAMPLES.read_text())["sequences"]
    return TypeAdapter(list[SequenceSettings]).validate_python(data)


def test_examples_compile():
    sequencer = compile_sequences(load(), custom_events=CUSTOM_EVENTS)
    assert sequencer.names == ["new-inbound-welcome", "post-demo-no-reply", "re-engagement-30-days",
                               "pricing-accelerated"]


def test_welcome_runs_on_days_1_3_7_14_and_renders():
    """(A step landing on a weekend waits for Monday, and later steps count from when it went out.)"""
    sequencer = compile_sequences(load(), custom_events=CUSTOM_EVENTS)
    contact = ContactFacts("c1", {"email": "ada@acme.io", "firstname": "Ada", "timezone": "Europe/Berlin"})
    tuesday = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)   # Tuesday: days 3, 7, 14 fall on weekdays
    form = Event(id=event_id("form.submitted", "c1"), type="form.submitted", contact_id="c1", occurred_at=tuesday,
                 source="api", data={"form": "demo"})
    [enrollment] = sequencer.enrollments_for(contact, [form], [], {}, tuesday)
    days = []
    now = tuesday
    while enrollment.status == "active":
        due = sequencer.due_step(enrollment, contact, now + timedelta(days=30), owner={"name": "Dana"},
                                 unsubscribe_url="https://t.example/u/x")
        days.append((due.due_at.date() - tuesday.date()).days + 1)
        assert "Ada" in due.subject and "https://t.example/u/x" in due.body
        enrollment = sequencer.record_step(enrollment, due.step_index, due.due_at)
        now = due.due_at
    assert days == [1, 3, 7, 14]
    assert enrollment == Enrollment("new-inbound-welcome", "c1", tuesday, status="completed", step=4,
                                    last_step_at=now)
