"""`threadline plan` for sequences: the steps the next hours would run, simulated without writing anything.

The simulation replays what the runner would do, in time order across all enrollments: sending
windows, each mailbox's daily cap and spacing, holds (no mailbox, template errors) and the steps
that follow a planned one. It assumes no new events and every send going out when intended.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences import Enrollment, Sequencer
from threadline.rules.sequences.branching import BranchDecision, step_label
from threadline.rules.sequences.config import EmailStep, TaskStep
from threadline.rules.sequences.mail import Senders, SendingMailbox
from threadline.rules.sequences.schedule import into_window
from threadline.rules.sequences.store import MailboxLoad, to_enrollment
from threadline.rules.sequences.templates.render import TemplateError
from threadline.rules.sequences.variants import choose
from threadline.rules.store import contact_facts
from threadline.sync.events.records import Event
from threadline.sync.store.tables import ContactRow, EnrollmentRow, as_utc


@dataclass(frozen=True)
class PlannedStep:
    """One step `threadline plan` expects to run; ``note`` says why it moved or waits
    ("deferred: daily cap", "deferred: spacing", "held: ...", "exits: no email address")."""

    sequence: str
    contact_id: str
    step_index: int
    kind: str
    due_at: datetime
    mailbox: str | None
    subject: str
    to: str | None
    note: str = ""
    variant: str | None = None      # the A/B variant it runs
    branch: str = ""                # which branch led here and why ("" when no step on the way branches)


@dataclass
class _Contact:
    row: ContactRow
    facts: ContactFacts
    score: Mapping[str, Any]
    events: list[Event]             # stored events, then the simulated branch decisions


class _Caps:
    """Per mailbox and UTC day: sends planned so far (seeded with today's real ones) and the last send."""

    def __init__(self, load: MailboxLoad) -> None:
        self.counts = {(box, load.day.date()): n for box, n in load.counts.items()}
        self.last = dict(load.last)

    def wait(self, box: str, at: datetime, cap: int, spacing: timedelta) -> tuple[datetime, str] | None:
        """When a send at ``at`` must wait instead, and why; None when it may go (then it is counted)."""
        day = at.astimezone(UTC).date()
        if self.counts.get((box, day), 0) >= cap:
            return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC), "deferred: daily cap"
        if box in self.last and self.last[box] + spacing > at:
            return self.last[box] + spacing, "deferred: spacing"
        self.counts[(box, day)] = self.counts.get((box, day), 0) + 1
        self.last[box] = at
        return None


def plan_steps(sequencer: Sequencer, senders: Senders, rows: Sequence[EnrollmentRow],
               contacts: Mapping[str, ContactRow], events: Mapping[str, list[Event]], load: MailboxLoad,
               now: datetime, until: datetime, unsubscribe: Callable[[str], str],
               score: Callable[[ContactFacts], Mapping[str, Any]] | None = None) -> list[PlannedStep]:
    """The steps due between ``now`` and ``until`` for these enrollments, in time order; ``score`` gives a
    contact's score.* values for branch conditions."""
    queue: list[tuple[datetime, int, Enrollment, str, str]] = []   # (at, order, enrollment, note, branch)
    order = itertools.count()      # ties in time keep insertion order (enrollments are not comparable)
    people: dict[str, _Contact] = {}
    for row in rows:
        contact = contacts.get(row.contact_id)
        if contact is None or contact.deleted or contact.merged_into:
            continue
        facts = contact_facts(contact)
        people[row.contact_id] = _Contact(contact, facts, score(facts) if score else {},
                                          list(events.get(row.contact_id, [])))
        enrollment = sequencer.advance(to_enrollment(row), people[row.contact_id].facts,
                                       events.get(row.contact_id, []), now)
        if enrollment.status == "active":
            heapq.heappush(queue, (max(now, as_utc(row.next_due_at) or now), next(order), enrollment, "", ""))
    planner = _Planner(sequencer, senders, people, _Caps(load), unsubscribe)
    planned: list[PlannedStep] = []
    while queue:
        at, _, enrollment, note, led_by = heapq.heappop(queue)
        if at > until:
            continue
        for follow in planner.step(enrollment, at, note, led_by, planned):
            heapq.heappush(queue, (follow[0], next(order), *follow[1:]))
    return planned


class _Planner:
    def __init__(self, sequencer: Sequencer, senders: Senders, people: Mapping[str, _Contact], caps: _Caps,
                 unsubscribe: Callable[[str], str]) -> None:
        self.sequencer, self.senders, self.people, self.caps = sequencer, senders, people, caps
        self.unsubscribe = unsubscribe

    def step(self, enrollment: Enrollment, at: datetime, note: str, led_by: str,
             planned: list[PlannedStep]) -> list[tuple[datetime, Enrollment, str, str]]:
        """Plan the enrollment's next step at ``at`` (appending to ``planned``); returns what to look at later."""
        person = self.people[enrollment.contact_id]
        settings = self.sequencer.settings(enrollment.sequence)
        enrollment, decisions = self.sequencer.route(enrollment, person.facts,
                                                     person.score, person.events, at)
        person.events += [decision.event() for decision in decisions]   # decided once, as the runner records it
        branch = "; ".join([led_by] * bool(led_by) + [note_branch(settings.steps, d) for d in decisions])
        if enrollment.status == "completed":
            planned.append(PlannedStep(enrollment.sequence, enrollment.contact_id, decisions[-1].step, "end", at,
                                       None, "", person.row.primary_email, "ends here", None, branch))
            return []
        due_at = self.sequencer.due_at(enrollment, person.facts)
        if due_at is None:
            return []
        opens = into_window(max(at, due_at), settings.window, self.sequencer.zone_of(enrollment.sequence, person.facts))
        if opens > at:
            return [(opens, enrollment, note, branch)]
        kind = settings.steps[enrollment.step].kind
        box: SendingMailbox | str | None = self.senders.owner_mailbox(person.row.owner_id)
        if kind == "email":
            box = self.senders.mailbox_for(person.row.owner_id, settings, person.row.crm_id)
        mailbox = box.address if isinstance(box, SendingMailbox) and kind == "email" else None

        def entry(subject: str, why: str) -> PlannedStep:
            return PlannedStep(enrollment.sequence, enrollment.contact_id, enrollment.step, kind, at, mailbox,
                               subject, person.row.primary_email, why, variant, branch)

        variant = choose(enrollment, enrollment.step, settings.steps[enrollment.step])

        if kind == "email" and not person.row.primary_email:
            planned.append(entry("", "exits: no email address"))
            return []
        if isinstance(box, str):
            planned.append(entry("", f"held: {box}"))
            return []
        try:
            due = self.sequencer.due_step(enrollment, person.facts, at,
                                          owner=self.senders.owner_context(box, person.row.owner_id),
                                          unsubscribe_url=self.unsubscribe(enrollment.contact_id))
        except TemplateError as exc:
            planned.append(entry("", f"held: template error: {exc.reason}"))
            return []
        assert due is not None      # active, and at >= its due time
        if kind == "email" and isinstance(box, SendingMailbox):
            wait = self.caps.wait(box.address, at, settings.daily_cap_per_mailbox,
                                  timedelta(minutes=settings.spacing_minutes))
            if wait is not None:
                return [(wait[0], enrollment, wait[1], branch)]
        planned.append(entry(due.subject, note))
        after = self.sequencer.record_step(enrollment, due.step_index, at)
        following = self.sequencer.due_at(after, person.facts)
        return [(max(following, at), after, "", "")] if following is not None else []



def note_branch(steps: Sequence[EmailStep | TaskStep], decision: BranchDecision) -> str:
    """A branch decision in words: "step 3: branch 1 -> call-owner (score.total >= 40 (is 45); ...)"."""
    where = step_label(steps, decision.step)
    if decision.branch == 0:
        return f"{where}: no branch held"
    return f"{where}: branch {decision.branch} -> {decision.goto} ({decision.why})"
