"""Synthetic store for the report benchmark: enrolments of an A/B-tested, branching sequence and what followed.

Per enrolment (one contact each, enrolled 8-28 days before `now`, inside `threadline report`'s default window)
it writes the rows the engine writes: the enrollment (its A/B variant recorded), 2 or 3 done ``send_email`` outbox
rows with the executor's payload (``sent.at``, ``variant``, ``next_step``), and per send the ``log_email`` row, the
``email.sent`` event and the audit row the executor adds; one ``sequence.branched`` decision at the branching step;
two page visits; the lifecycle stage (``contact.updated`` of ``lifecyclestage``) set before enrolment and for some
moved forward after it; the scoring's audit write of the total (and its CRM echo) before enrolment, and for some a
second one across the MQL threshold; replies and meetings for a share. Bulk inserts of `BATCH` enrolments at a
time; contacts are not written (the report never reads them).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from threadline.rules.sequences import SequenceSettings, compile_sequences, step_key
from threadline.rules.sequences.variants import pick
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, EnrollmentRow, EventRow, OutboxRow

SEQUENCE_NAME = "outbound-ab"
MAILBOX = "rep@bench.example"
SCORE_FIELD = "threadline_score"
BATCH = 5_000
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
#: Shares of enrolments: took the pricing branch at step 2, replied, booked a meeting, moved to MQL/SQL, crossed
#: the MQL score.
BRANCH_SHARE, REPLY_SHARE, MEETING_SHARE, STAGE_SHARE, MQL_SHARE = 0.3, 0.08, 0.02, 0.06, 0.04

#: intro (A/B test) -> check (branches: a pricing visit since the intro goes to `pricing`) -> nudge -> end;
#: the pricing path is intro -> pricing -> end.
SEQUENCE: dict[str, Any] = {
    "name": SEQUENCE_NAME, "enroll_on": "form.submitted",
    "steps": [
        {"kind": "email", "name": "intro", "subject": "Your demo request", "body": "Hi {{ contact.firstname "
         "| default('there') }}, when suits you?", "variants": [
             {"name": "a", "subject": "Your demo request"}, {"name": "b", "subject": "Quick question"}]},
        {"kind": "email", "name": "check", "subject": "Re: Your demo request", "body": "Any thoughts?",
         "delay": {"days": 3}, "branches": [{"goto": "pricing", "seen": {"event.type": "page.visited",
                                                                         "event.url": {"contains": "pricing"}}}]},
        {"kind": "email", "name": "nudge", "subject": "Re: Your demo request", "body": "Closing the loop.",
         "delay": {"days": 3}, "then": "end"},
        {"kind": "email", "name": "pricing", "subject": "Pricing for your team", "body": "Here is our pricing.",
         "delay": {"days": 3}}]}


def sequence_settings() -> SequenceSettings:
    """The benchmark's sequence, compiled once so the seeded shape is one the engine accepts."""
    settings = SequenceSettings.model_validate(SEQUENCE)
    compile_sequences([settings])
    return settings


@dataclass
class Rows:
    """One batch of rows, by table."""

    enrollments: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def seed(store: Store, enrollments: int, now: datetime, seed_value: int = 7) -> dict[str, int]:
    """Write `enrollments` enrolments and everything that followed them; returns the rows written per table."""
    settings = sequence_settings()
    rng = random.Random(seed_value)
    written = {"enrollments": 0, "outbox": 0, "events": 0, "audit": 0}
    with store.engine.begin() as connection:
        for rows in _batches(settings, enrollments, now, rng):
            for table, name in ((EnrollmentRow, "enrollments"), (OutboxRow, "outbox"), (EventRow, "events"),
                                (AuditRow, "audit")):
                values = getattr(rows, name)
                connection.execute(insert(table.__table__), values)  # type: ignore[union-attr]
                written[name] += len(values)
    return written


def _batches(settings: SequenceSettings, total: int, now: datetime, rng: random.Random) -> Iterator[Rows]:
    for first in range(0, total, BATCH):
        rows = Rows()
        for i in range(first, min(total, first + BATCH)):
            _one(rows, settings, i, now - timedelta(days=rng.uniform(8, 28)), rng)
        yield rows


def _one(rows: Rows, settings: SequenceSettings, i: int, enrolled: datetime, rng: random.Random) -> None:
    """One enrolment's rows: its sends along the path it took, the branch decision and the outcome events."""
    contact = f"c{i:07d}"
    variant = pick(settings.steps[0].variants, SEQUENCE_NAME, contact, 0, 0)
    pricing = rng.random() < BRANCH_SHARE
    path = [0, 3] if pricing else [0, 1, 2]
    sends = [enrolled + HOUR + n * 3 * DAY + timedelta(minutes=rng.uniform(0, 600)) for n in range(len(path))]
    replied = rng.random() < REPLY_SHARE
    stopped = replied and not pricing   # answered the second mail: the 3-step path exits after two sends
    if stopped:
        path, sends = path[:2], sends[:2]
    for n, (step, at) in enumerate(zip(path, sends, strict=True)):
        following = path[n + 1] if n + 1 < len(path) else None
        _send(rows, contact, step, following, variant if step == 0 else None, at)
    rows.enrollments.append({
        "sequence": SEQUENCE_NAME, "contact_id": contact, "generation": 0,
        "status": "exited" if stopped else "completed", "step": path[-1] + 1, "enrolled_at": enrolled,
        "last_step_at": sends[-1], "paused_until": None, "exit_reason": "replied" if stopped else None, "updated_at": sends[-1], "next_due_at": None,
        "mailbox": MAILBOX, "variants": json.dumps({"0": variant})})
    _branch(rows, contact, sends[1] - timedelta(minutes=1), pricing)
    _events(rows, contact, enrolled, sends, replied, pricing, rng)
    _scores(rows, contact, enrolled, rng)


def _send(rows: Rows, contact: str, step: int, following: int | None, variant: str | None, at: datetime) -> None:
    """The done send_email row as record_sent leaves it, and the log_email row, event and audit it adds."""
    key = step_key(SEQUENCE_NAME, contact, 0, step)
    message_id = f"<{key}@bench.example>"
    email = {"key": key, "message_id": message_id, "from_address": MAILBOX, "from_name": "Rep",
             "to": [f"{contact}@prospect.example"], "subject": "Re: Your demo request",
             "text": "Hi there, when suits you for a 20-minute demo? I can do Tuesday or Thursday.\n\nRep\n"
                     "Unsubscribe: https://threadline.bench.example/u/" + contact,
             "headers": [["List-Unsubscribe", f"<https://threadline.bench.example/u/{contact}>"]]}
    payload = {"sequence": SEQUENCE_NAME, "generation": 0, "step_index": step, "last_step": following is None,
               "next_step": following, "variant": variant, "mailbox": MAILBOX, "email": email,
               "sent": {"provider_id": f"p-{key[:16]}", "thread_id": f"t-{contact}", "at": at.isoformat(),
                        "confirmed": True}}
    common = {"contact_id": contact, "status": "done", "attempts": 1, "created_at": at, "updated_at": at,
              "next_attempt_at": at, "first_attempt_at": at, "remote_id": None}
    rows.outbox += [{**common, "key": key, "kind": "send_email", "payload": json.dumps(payload, sort_keys=True),
                     "remote_id": f"p-{key[:16]}"},
                    {**common, "key": f"log-{key}", "kind": "log_email", "payload": json.dumps(
                        {"key": f"log-{key}", "subject": email["subject"], "direction": "outgoing"})}]
    rows.events.append(_event(f"sent-{key}", "email.sent", contact, at, {
        "subject": email["subject"], "message_id": message_id, "mailbox": MAILBOX, "sequence": SEQUENCE_NAME,
        "step": step}, f"mailbox:{MAILBOX}"))
    rows.audit.append({"at": at, "rule": f"sequence:{SEQUENCE_NAME}", "contact_id": contact,
                       "effect_key": f"log-{key}", "kind": "log_email", "reason": f"step {step + 1} sent",
                       "detail": json.dumps({"key": f"log-{key}", "subject": email["subject"]})})


def _branch(rows: Rows, contact: str, at: datetime, pricing: bool) -> None:
    data = {"sequence": SEQUENCE_NAME, "generation": 0, "step": 1, "to": 3 if pricing else 1,
            "branch": 1 if pricing else 0, "goto": "pricing" if pricing else "check",
            "why": "seen page.visited (url contains pricing) since the previous step" if pricing else "no branch held"}
    rows.events.append(_event(f"branched-{contact}", "sequence.branched", contact, at, data, "sequences"))


def _events(rows: Rows, contact: str, enrolled: datetime, sends: list[datetime], replied: bool, pricing: bool,
            rng: random.Random) -> None:
    """Page visits, the stage before and after, the reply and the meeting."""
    urls = ["/pricing" if pricing else "/blog/x", "/case-studies/acme"]
    rows.events += [_event(f"visit-{contact}-{n}", "page.visited", contact, sends[0] + timedelta(hours=2 + n),
                           {"url": f"https://x.example{url}"}) for n, url in enumerate(urls)]
    rows.events.append(_stage(contact, enrolled - 10 * DAY, "subscriber", "lead"))
    if rng.random() < STAGE_SHARE:
        rows.events.append(_stage(contact, enrolled + rng.uniform(2, 20) * DAY, "lead",
                                  rng.choice(["marketingqualifiedlead", "salesqualifiedlead"])))
    if replied:
        rows.events.append(_event(f"reply-{contact}", "reply.received", contact,
                                  sends[-1] + timedelta(hours=rng.uniform(1, 48)),
                                  {"subject": "Re: Your demo request", "text": "Tuesday works."}, f"mailbox:{MAILBOX}"))
    if rng.random() < MEETING_SHARE:
        rows.events.append(_event(f"meeting-{contact}", "meeting.booked", contact,
                                  enrolled + rng.uniform(1, 20) * DAY, {"title": "Demo"}, "crm"))


def _scores(rows: Rows, contact: str, enrolled: datetime, rng: random.Random) -> None:
    """The scoring's writes of the total (audit rows) with the CRM's echo: below 50 before, and for some above after."""
    points = [(enrolled - 5 * DAY, rng.randrange(5, 45))]
    if rng.random() < MQL_SHARE:
        points.append((enrolled + rng.uniform(1, 20) * DAY, rng.randrange(50, 90)))
    for n, (at, total) in enumerate(points):
        rows.audit.append({"at": at, "rule": "scoring", "contact_id": contact, "effect_key": f"score-{contact}-{n}",
                           "kind": "set_fields", "reason": "score", "detail": json.dumps(
                               {"fields": {SCORE_FIELD: total, "threadline_tier": "mql" if total >= 50 else "cold"}})})
        rows.events.append(_event(f"echo-{contact}-{n}", "contact.updated", contact, at + timedelta(minutes=2),
                                  {"field": SCORE_FIELD, "old": None, "new": str(total)}, "crm"))


def _stage(contact: str, at: datetime, old: str, new: str) -> dict[str, Any]:
    return _event(f"stage-{contact}-{new}", "contact.updated", contact, at,
                  {"field": "lifecyclestage", "old": old, "new": new}, "crm")


def _event(id_: str, type_: str, contact: str, at: datetime, data: dict[str, Any], source: str = "api") -> dict[
        str, Any]:
    return {"id": id_, "type": type_, "contact_id": contact, "occurred_at": at, "source": source,
            "data": json.dumps(data)}
