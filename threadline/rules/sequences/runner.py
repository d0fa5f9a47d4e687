"""Run sequences over the store: enrol on events, apply stop rules, and hand due steps to the outbox.

Every decision is the pure Sequencer's; this module reads the store, asks, and records the answer
(enrollment rows, send_email / create_task intents, audit rows, the events cursor) in one
transaction per batch, so a crash repeats nothing and loses nothing. Nothing here sends: the send
executor performs send_email rows and advances the enrollment when the mail is out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from threadline.crashpoints import crashpoint
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask
from threadline.rules.sequences import DueStep, Enrollment, Sequencer
from threadline.rules.sequences.ab_plan import TestPreview, count_waiting, previews
from threadline.rules.sequences.mail import Senders, SendingMailbox
from threadline.rules.sequences.plan import PlannedStep, plan_steps
from threadline.rules.sequences.schedule import into_window
from threadline.rules.sequences.sends import Batch, DueEmail, send_or_defer
from threadline.rules.sequences.silence import ACTIVITY_TYPES
from threadline.rules.sequences.store import (
    CHUNK,
    ENROLLMENT_KEY,
    MailboxLoad,
    contact_rows,
    count_due,
    due_by,
    due_rows,
    enrollments_of,
    events_with_seq,
    mailbox_load,
    new_rows,
    open_positions,
    stored_as_given,
    to_enrollment,
    variants_from,
    write_back,
)
from threadline.rules.sequences.templates.render import TemplateError
from threadline.rules.sequences.unsubscribe_links import unsubscribe_url
from threadline.rules.store import (
    STREAM_EVENTS,
    contact_facts,
    contacts_with_events_in,
    live_contact_ids_after,
    load_rule_state,
    newest_event_seq,
    save_rule_state,
    window_contacts,
)
from threadline.sync.events.log import events_for, record_events
from threadline.sync.events.records import Event
from threadline.sync.outbox.rows import intend
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow, EnrollmentRow
from threadline.sync.store.upsert import insert_ignore
from threadline.sync.work.cursors import record_error

__all__ = ["PlannedStep", "SendingMailbox", "SequenceRunner", "SequenceSummary"]

SOURCE = "sequences"
EVENTS_CURSOR = "sequence_events_cursor"
SILENCE_CHECK = "sequence_silence_check"
SILENCE_EVERY = timedelta(hours=1)
HOLD_FOR = timedelta(hours=1)
TASK_DUE_IN = timedelta(days=1)


@dataclass
class SequenceSummary:
    """What one run did. ``advanced``: open enrollments paused or resumed by the stop rules; ``deferred``:
    due steps moved on by a daily cap, spacing or the sending window; ``held``: steps waiting on a fix
    (template error, no mailbox), each recorded in `threadline status`."""

    enrolled: int = 0
    advanced: int = 0
    exited: int = 0
    sends_intended: int = 0
    tasks_intended: int = 0
    deferred: int = 0
    held: int = 0


class SequenceRunner:
    """Runs the configured sequences against one store. Not thread-safe; one runner per process."""

    def __init__(self, store: Store, sequencer: Sequencer, mailboxes: Sequence[SendingMailbox], *,
                 public_url: str, unsubscribe_secret: str,
                 owner_names: Callable[[], Mapping[str, str]] | None = None,
                 score_fields: Mapping[str, str] | None = None,
                 team: Callable[[], Sequence[SendingMailbox]] | None = None,
                 stream_above: int = STREAM_EVENTS) -> None:
        """``score_fields`` maps score names (total, fit, intent, tier) to the contact fields scoring writes:
        ``score.*`` in ``enroll_when`` reads them there. ``team`` gives, at each pass, the mailboxes found
        from the CRM's owners or connected by reps since start (the configured ones win for an address).
        A pass with more new events than ``stream_above`` pages its contacts by keyset (the first pull)."""
        self.store = store
        self.stream_above = stream_above
        self.score_fields = dict(score_fields or {})
        self.sequencer = sequencer
        self.mailboxes = list(mailboxes)
        self.public_url = public_url
        self.unsubscribe_secret = unsubscribe_secret
        self.owner_names = owner_names
        self.team = team

    def _senders(self) -> Senders:
        configured = {box.address for box in self.mailboxes}
        found = [box for box in self.team() if box.address not in configured] if self.team else []
        return Senders([*self.mailboxes, *found], self.owner_names)

    def _score(self, facts: ContactFacts) -> dict[str, Any]:
        score: dict[str, Any] = {}
        for name, field_name in self.score_fields.items():
            value = facts.value(field_name)
            try:
                score[name] = value if name == "tier" or value is None else float(value)
            except (TypeError, ValueError):
                score[name] = value
        return score

    # -- the cycle -------------------------------------------------------------------------------------
    def run(self, now: datetime) -> SequenceSummary:
        """One scheduling pass at ``now``: silence check (hourly), new events -> enrolment and stop rules,
        then every due step -> outbox intent, deferral or hold. Idempotent: running again at the same
        ``now`` intends nothing new."""
        now = now.astimezone(UTC)
        summary = SequenceSummary()
        senders = self._senders()
        self._record_silence(now)
        self._apply_events(now, summary)
        self._run_due(now, senders, summary)
        return summary

    # -- 1. events: enrolment and stop rules --------------------------------------------------------------
    def _record_silence(self, now: datetime) -> None:
        """Record ``contact.silent`` events at most once an hour; their stable ids make each silent period
        one event, and the events cursor then treats them like any other new event."""
        if not any(self.sequencer.settings(name).silent_days for name in self.sequencer.names):
            return
        with self.store.session() as session:
            last = load_rule_state(session, SILENCE_CHECK).get("at")
            if last and datetime.fromisoformat(last) + SILENCE_EVERY > now:
                return
        after = ""
        while True:     # keyset pages: the portal's ids are never held at once (issue #18)
            with self.store.session() as session:
                ids = live_contact_ids_after(session, after, CHUNK)
                if not ids:
                    break
                activity = events_with_seq(session, ids, ACTIVITY_TYPES)
                silent = [event for contact_id, found in activity.items()
                          for event in self.sequencer.silence_events(contact_id, [e for _, e in found], now)]
                record_events(session, silent)
            after = ids[-1]
        with self.store.session() as session:
            save_rule_state(session, SILENCE_CHECK, {"at": now.isoformat()})

    def _apply_events(self, now: datetime, summary: SequenceSummary) -> None:
        with self.store.session() as session:
            state = load_rule_state(session, EVENTS_CURSOR)
            since = int(state.get("seq", 0))
            # A window left half done (a crash, a stop) goes on from its last batch; otherwise a new one.
            newest = int(state["until"]) if "until" in state else newest_event_seq(session)
            after = str(state.get("after", ""))
        if newest <= since:
            return
        if newest - since <= self.stream_above and not after:
            with self.store.session() as session:
                ids = sorted(window_contacts(session, (since, newest)))
            pages: Iterator[list[str]] = (ids[start:start + CHUNK] for start in range(0, len(ids), CHUNK))
        else:           # the first pull's million events: page contacts by keyset, never hold them all
            pages = self._window_pages((since, newest), after)
        for batch in pages:
            # Re-running a batch after a crash is harmless (enrolment respects existing rows, tasks are keyed);
            # the place in the window is saved with each batch, so a long window is not started over.
            with self.store.session() as session:
                self._events_batch(session, batch, (since, newest), now, summary)
                save_rule_state(session, EVENTS_CURSOR, {"seq": since, "until": newest, "after": batch[-1]})
        with self.store.session() as session:
            save_rule_state(session, EVENTS_CURSOR, {"seq": newest})

    def _window_pages(self, window: tuple[int, int], after: str) -> Iterator[list[str]]:
        while True:
            with self.store.session() as session:
                batch = contacts_with_events_in(session, window, after, CHUNK)
            if not batch:
                return
            yield batch
            after = batch[-1]

    def _events_batch(self, session: Session, ids: list[str], window: tuple[int, int], now: datetime,
                      summary: SequenceSummary) -> None:
        contacts = contact_rows(session, ids)
        events = events_with_seq(session, ids)
        existing = enrollments_of(session, ids)
        batch = Batch()
        created: list[tuple[Enrollment, datetime | None]] = []
        held_replies: list[Event] = []
        for contact_id in ids:
            contact = contacts.get(contact_id)
            if contact is None:
                continue
            facts = contact_facts(contact)
            history = [event for _, event in events.get(contact_id, [])]
            rows = existing.get(contact_id, [])
            for row in rows:
                self._restop(row, contact, facts, history, now, batch, summary)
            if contact.deleted or contact.merged_into:
                continue
            new = [event for seq, event in events.get(contact_id, []) if window[0] < seq <= window[1]]
            for enrollment in self.sequencer.enrollments_for(facts, new, [to_enrollment(r) for r in rows],
                                                                self._score(facts), now):
                # `history` is what the store holds as the contact is enrolled: a reply in it predates the
                # enrolment, whatever its (whole-second, maybe skewed) stamp says. Noted now, decided the same
                # way by every later cycle and by the send executor's last check.
                held = self.sequencer.replies_before_enrolment(enrollment, history)
                enrollment = self.sequencer.advance(enrollment, facts, [*history, *held], now)
                created.append((enrollment, self._next_due(enrollment, facts)))
                held_replies += held
                summary.exited += enrollment.status == "exited"
        # Ignoring an existing key keeps a second replica's concurrent enrolment from failing the batch.
        summary.enrolled += insert_ignore(session, EnrollmentRow, new_rows(created), ENROLLMENT_KEY)
        if held_replies:
            record_events(session, _ours(session, created, held_replies))
        self._record(session, batch, now, summary)

    def _restop(self, row: EnrollmentRow, contact: ContactRow, facts: ContactFacts, history: list[Event],
                now: datetime, batch: Batch, summary: SequenceSummary) -> Enrollment:
        """Apply the stop rules to an open enrollment; reschedule only when its state changed (a row
        waiting on its send keeps next_due_at None, so the executor's outcome is not raced)."""
        before = to_enrollment(row)
        if not before.is_open:
            return before
        after = self._advance(before, contact, facts, history, now, batch)
        if (after.status, after.paused_until, after.exit_reason) != (before.status, before.paused_until,
                                                                     before.exit_reason):
            write_back(row, after, self._next_due(after, facts))
            summary.exited += after.status == "exited"
            summary.advanced += after.status != "exited"
        return after

    def _advance(self, before: Enrollment, contact: ContactRow, facts: ContactFacts, history: list[Event],
                 now: datetime, batch: Batch) -> Enrollment:
        if contact.deleted or contact.merged_into:
            return before.exited("contact_merged" if contact.merged_into else "contact_deleted")
        after = self.sequencer.advance(before, facts, history, now)
        task = self.sequencer.reply_task(before, after, contact.owner_id, now)
        if task is not None:
            batch.effect(task)
        return after

    def _next_due(self, enrollment: Enrollment, facts: ContactFacts) -> datetime | None:
        if enrollment.status == "active":
            return self.sequencer.due_at(enrollment, facts)
        return enrollment.paused_until if enrollment.status == "paused" else None

    # -- 2. due steps ------------------------------------------------------------------------------------
    def _run_due(self, now: datetime, senders: Senders, summary: SequenceSummary) -> None:
        with self.store.session() as session:
            load = mailbox_load(session, now)
            due = count_due(session, now)
        # Every pass moves each row on (a later time, None, or its next step), so this bound is never
        # reached in practice; it only turns a bug into a stalled step instead of a spinning daemon.
        longest = max((len(self.sequencer.settings(name).steps) for name in self.sequencer.names), default=0)
        for _ in range((due // CHUNK + 1) * (longest + 1)):
            with self.store.session() as session:
                rows = due_rows(session, now, CHUNK)
                if not rows:
                    return
                self._due_batch(session, rows, now, senders, load, summary)
                crashpoint("sequences.before_batch_commit")
            crashpoint("sequences.after_batch_commit")

    def _due_batch(self, session: Session, rows: list[EnrollmentRow], now: datetime, senders: Senders,
                   load: MailboxLoad, summary: SequenceSummary) -> None:
        ids = {row.contact_id for row in rows}
        contacts = contact_rows(session, ids)
        events = events_for(session, ids)
        batch = Batch()
        emails: list[DueEmail] = []
        for row in rows:
            found = self._due_one(row, contacts.get(row.contact_id), events.get(row.contact_id, []), now,
                                  senders, batch, summary)
            if found is not None:
                emails.append(found)
        summary.deferred += send_or_defer(session, self.sequencer, emails, now, senders, load, batch,
                                          self._unsubscribe)
        self._record(session, batch, now, summary)

    def _due_one(self, row: EnrollmentRow, contact: ContactRow | None, history: list[Event], now: datetime,
                 senders: Senders, batch: Batch, summary: SequenceSummary) -> DueEmail | None:
        """Decide one due enrollment; returns the email step when it waits on the caps, else records it."""
        before = to_enrollment(row)
        if contact is None:
            write_back(row, before.exited("contact_deleted"), None)
            summary.exited += 1
            return None
        facts = contact_facts(contact)
        enrollment = self._advance(before, contact, facts, history, now, batch)
        if enrollment.status != "active":
            write_back(row, enrollment, self._next_due(enrollment, facts))
            summary.exited += enrollment.status == "exited"
            return None
        enrollment, decisions = self.sequencer.route(enrollment, facts,
                                                     self._score(facts), history, now)
        batch.events += [decision.event() for decision in decisions]
        sequence = self.sequencer.settings(enrollment.sequence)
        if enrollment.step >= len(sequence.steps) or enrollment.status == "completed":
            write_back(row, replace(enrollment, status="completed"), None)
            return None
        kind = sequence.steps[enrollment.step].kind
        box: SendingMailbox | str | None = senders.owner_mailbox(contact.owner_id)
        if kind == "email":
            if not contact.primary_email:
                write_back(row, enrollment.exited("no_email"), None)
                summary.exited += 1
                return None
            box = senders.mailbox_for(contact.owner_id, sequence, contact.crm_id)
            if isinstance(box, str):
                self._hold(row, enrollment, "no_mailbox", f"sequence {sequence.name} step "
                           f"{enrollment.step + 1}: {box}", now, batch, summary)
                return None
        assert not isinstance(box, str)
        try:
            step = self.sequencer.due_step(enrollment, facts, now, owner=senders.owner_context(box, contact.owner_id),
                                           unsubscribe_url=self._unsubscribe(contact.crm_id))
        except TemplateError as exc:
            self._hold(row, enrollment, "template_error", f"sequence {sequence.name} step "
                       f"{enrollment.step + 1}: {exc.reason}", now, batch, summary)
            return None
        if step is None:
            write_back(row, enrollment, self.sequencer.due_at(enrollment, facts))
            return None
        opens = into_window(now, sequence.window, self.sequencer.zone_of(enrollment.sequence, facts))
        if opens > now:      # due earlier but the window is closed now (caps deferred it, or we ran late)
            write_back(row, enrollment, opens)
            summary.deferred += 1
            return None
        if step.kind == "task":
            self._task_step(row, enrollment, step, contact, facts, now, batch)
            return None
        assert isinstance(box, SendingMailbox) and contact.primary_email
        return DueEmail(row, enrollment, step, box, contact.primary_email)

    def _hold(self, row: EnrollmentRow, enrollment: Enrollment, kind: str, what: str, now: datetime,
              batch: Batch, summary: SequenceSummary) -> None:
        write_back(row, enrollment, now + HOLD_FOR)
        batch.hold(kind, what, enrollment.contact_id)
        summary.held += 1

    def _task_step(self, row: EnrollmentRow, enrollment: Enrollment, step: DueStep, contact: ContactRow,
                   facts: ContactFacts, now: datetime, batch: Batch) -> None:
        """A task step is created by the CRM outbox; the enrollment moves on in this same transaction."""
        batch.effect(CreateTask(key=step.key, contact_id=step.contact_id, rule=f"sequence:{step.sequence}",
                                owner_id=contact.owner_id, subject=step.subject, body=step.body,
                                due_at=now + TASK_DUE_IN,
                                reason=f"sequence {step.sequence} step {step.step_index + 1} ({step.task_type})"))
        after = self.sequencer.record_step(enrollment, step.step_index, now)
        write_back(row, after, self._next_due(after, facts))

    def _unsubscribe(self, contact_id: str) -> str:
        return unsubscribe_url(self.public_url, self.unsubscribe_secret, contact_id)

    def _record(self, session: Session, batch: Batch, now: datetime, summary: SequenceSummary) -> None:
        sends = [intent for intent in batch.intents if intent.kind == "send_email"]
        tasks = [intent for intent in batch.intents if intent.kind != "send_email"]
        summary.sends_intended += intend(session, sends, at=now) + batch.revived
        summary.tasks_intended += intend(session, tasks, at=now)
        insert_ignore(session, AuditRow, batch.audits, ["effect_key"])
        record_events(session, batch.events)
        for (kind, what), contact_ids in batch.holds.items():
            shown = ", ".join(contact_ids[:5]) + (f" and {len(contact_ids) - 5} more" if len(contact_ids) > 5 else "")
            record_error(session, SOURCE, kind, f"{what} (held for {len(contact_ids)} contact(s): {shown})")

    # -- 3. plan -----------------------------------------------------------------------------------------
    def upcoming(self, now: datetime, until: datetime) -> list[PlannedStep]:
        """The steps that would run between ``now`` and ``until`` if nothing else happened (no new events,
        every send going out when intended), with caps, spacing and windows applied and holds noted.
        Reads the store; writes nothing."""
        now, until = now.astimezone(UTC), until.astimezone(UTC)
        senders = self._senders()
        with self.store.session() as session:
            rows = due_by(session, until)
            ids = {row.contact_id for row in rows}
            contacts = contact_rows(session, ids)
            events = events_for(session, ids)
            load = mailbox_load(session, now)
            session.expunge_all()       # a dry run: nothing read here may be flushed back
        return plan_steps(self.sequencer, senders, rows, contacts, events, load, now, until, self._unsubscribe,
                          self._score)

    def ab_tests(self) -> list[TestPreview]:
        """Each A/B-tested step: its split or its winner, and the open enrolments that still have to run it, by
        the variant they will run (what `threadline plan` shows before a test is ended). Reads only."""
        found = previews(self.sequencer.settings(name) for name in self.sequencer.names)
        if found:
            with self.store.session() as session:
                for sequence, step, variants in open_positions(session, sorted({name for name, _ in found})):
                    count_waiting(found, sequence, step, dict(variants_from(variants)))
        return list(found.values())


def _ours(session: Session, created: Sequence[tuple[Enrollment, datetime | None]],
          notes: Sequence[Event]) -> list[Event]:
    """The notes of enrollments this run really inserted: another replica's enrolment of the same key came
    first, at its own moment, and what the store held then is not what it held now."""
    noted = {(n.data["sequence"], n.contact_id, n.data["generation"]) for n in notes}
    wanted = [e for e, _ in created if (e.sequence, e.contact_id, e.generation) in noted]
    mine = {(e.sequence, e.contact_id, e.generation) for e in stored_as_given(session, wanted)}
    return [n for n in notes if (n.data["sequence"], n.contact_id, n.data["generation"]) in mine]
