"""Synthetic input for the sequence benchmarks: the 5-step sequence, the sending mailboxes, contacts and events.

What a store holds when sequences start: mirrored contacts (each owned by one of the reps whose
mailboxes send) and, per contact, the event that enrols it (a demo-request form). The runner reads
nothing else, so this is all the scheduler benchmark seeds; enrolment happens in its first run.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from threadline.rules.sequences import Delay, EmailStep, SendingWindow, SequenceSettings
from threadline.sync.events.records import event_id
from threadline.sync.store.database import Store
from threadline.sync.store.tables import ContactRow, EventRow

SEQUENCE = "bench-outbound"
MAILBOX_DOMAIN = "bench.example"
#: Contacts' zones: the window (08:00-18:00 local, Monday-Friday) opens at different UTC hours for each.
ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Singapore")
#: Days after the previous step (the first: after enrolment): day 1, 3, 7, 14, 21 as in config/sequences.
STEP_DAYS = (0, 2, 4, 7, 7)
BATCH = 5_000

UNSUBSCRIBE = "\n\n{{ owner.name }}\nUnsubscribe: {{ unsubscribe_url }}"
BODIES = (
    "Hi {{ contact.firstname | default('there') }},\n\nthanks for asking for a demo of {{ company }}'s use case. "
    "I'm {{ owner.name }}; is there a good time this week?",
    "Hi {{ contact.firstname | default('there') }}, a short case study from a team like yours. Worth 15 minutes?",
    "Hi {{ contact.firstname | default('there') }}, should I send over pricing for {{ company }}?",
    "Hi {{ contact.firstname | default('there') }}, one question: who else at {{ company }} should see this?",
    "Hi {{ contact.firstname | default('there') }}, I'll close the loop for now. Just reply if the timing changes.",
)


def bench_sequence(steps: int = 5, daily_cap: int = 50, spacing_minutes: float = 2,
                   window: SendingWindow | None = None) -> SequenceSettings:
    """A `steps`-step email sequence (all in one thread) entered on a demo request; exits on a reply. The
    default window is 08:00-18:00 Monday-Friday in the contact's zone."""
    emails = [EmailStep(subject="{{ 'Re: ' if step > 1 else '' }}Your demo request, "
                                "{{ contact.firstname | default('there') }}",
                        body=BODIES[i % len(BODIES)] + UNSUBSCRIBE,
                        delay=Delay(days=STEP_DAYS[i % len(STEP_DAYS)] if i else 0)) for i in range(steps)]
    return SequenceSettings(
        name=SEQUENCE, steps=emails, enroll_on="form.submitted", enroll_when={"event.form": "demo-request"},
        on_reply="exit", window=window or SendingWindow(days=[0, 1, 2, 3, 4]), daily_cap_per_mailbox=daily_cap,
        spacing_minutes=spacing_minutes)


#: The branching benchmark's tests: an A/B test of the first step, and at the third step a pricing-page visit since
#: enrolment skips to the last step (a second branch, on the stage, never holds here but is checked every time).
FIRST_STEP_VARIANTS = ({"name": "a", "subject": "Your demo request, {{ contact.firstname | default('there') }}"},
                       {"name": "b", "subject": "A question about {{ company }}"})
PRICING_BRANCHES = ({"goto": "end", "when": {"contact.lifecyclestage": "customer"}},
                    {"goto": "last", "seen": {"event.type": "page.visited", "event.url": {"contains": "pricing"}},
                     "since": "enrolment"})


def branching_sequence(steps: int = 5, daily_cap: int = 50, spacing_minutes: float = 2) -> SequenceSettings:
    """`bench_sequence` with an A/B-tested first step and branches at the third (needs at least 4 steps): the same
    mail, so a run with it and a run without differ only by the variant and branch decisions."""
    data = bench_sequence(steps, daily_cap, spacing_minutes).model_dump(mode="json")
    data["steps"][0]["variants"] = list(FIRST_STEP_VARIANTS)
    data["steps"][2]["branches"] = list(PRICING_BRANCHES)
    data["steps"][-1]["name"] = "last"
    return SequenceSettings.model_validate(data)


def pricing_visits(contacts: int, share: float, at: datetime, seed_value: int = 7) -> list[dict[str, Any]]:
    """A pricing-page visit at ``at`` for about ``share`` of the contacts (its own random stream, so the contacts
    seeded are the same with or without visits)."""
    rng = random.Random(seed_value + 1)
    return [{"id": event_id("page.visited", f"c{i}", "bench"), "type": "page.visited", "contact_id": f"c{i}",
             "occurred_at": at, "source": "api", "data": json.dumps({"url": "https://x.example/pricing"})}
            for i in range(contacts) if rng.random() < share]


def mailbox_address(index: int) -> str:
    return f"rep{index:02d}@{MAILBOX_DOMAIN}"


def owner_id(index: int) -> str:
    return f"owner-{index:02d}"


def contact_for_address(address: str) -> str:
    """The contact id behind a seeded address ("p17@company17.example" -> "c17")."""
    return "c" + address.split("@", 1)[0].removeprefix("p")


def contact_rows(first: int, last: int, mailboxes: int, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Contacts first..last-1, owned round-robin by the mailboxes' owners, zones spread over ZONES."""
    return [{"crm_id": f"c{i}", "object_type": "contact", "primary_email": f"p{i}@company{i % 2_000}.example",
             "first_name": rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]), "last_name": str(i),
             "company": f"Company {i % 2_000}", "owner_id": owner_id(i % mailboxes), "updated_at": now,
             "merged_into": None, "deleted": False,
             "properties": json.dumps({"timezone": ZONES[i % len(ZONES)], "lifecyclestage": "lead"})}
            for i in range(first, last)]


def enrol_events(rows: list[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """One demo-request form per contact: the sequence's trigger."""
    return [{"id": event_id("form.submitted", row["crm_id"], "bench"), "type": "form.submitted",
             "contact_id": row["crm_id"], "occurred_at": at, "source": "api",
             "data": json.dumps({"form": "demo-request"})} for row in rows]


def seed(store: Store, contacts: int, mailboxes: int, now: datetime, seed_value: int = 7,
         visit_share: float = 0.0) -> None:
    """Insert `contacts` contacts and their enrolment events (bulk inserts, BATCH rows per statement), and for
    about `visit_share` of them a pricing-page visit a day after `now` (after their enrolment by the first run)."""
    rng = random.Random(seed_value)
    with store.engine.begin() as connection:
        for first in range(0, contacts, BATCH):
            rows = contact_rows(first, min(contacts, first + BATCH), mailboxes, now, rng)
            connection.execute(insert(ContactRow.__table__), rows)  # type: ignore[attr-defined]
            connection.execute(insert(EventRow.__table__),  # type: ignore[attr-defined]
                               enrol_events(rows, now - timedelta(minutes=5)))
        visits = pricing_visits(contacts, visit_share, now + timedelta(days=1), seed_value)
        if visits:
            connection.execute(insert(EventRow.__table__), visits)  # type: ignore[attr-defined]


def reply_event(contact_id: str, mailbox: str, at: datetime) -> dict[str, Any]:
    """A prospect's reply as the mailbox ingest records it (the runner then exits the enrollment)."""
    return {"id": event_id("reply.received", contact_id, "bench", at.isoformat()), "type": "reply.received",
            "contact_id": contact_id, "occurred_at": at, "source": f"mailbox:{mailbox}",
            "data": json.dumps({"subject": "Re: Your demo request", "text": "Sounds good, call me Tuesday.",
                                "message_id": f"<reply-{contact_id}@customer.example>", "mailbox": mailbox})}
