"""Sequences as pure decisions: who enrols, what stops or pauses them, and which step is due when.

``compile_sequences(settings)`` validates and returns a Sequencer. The engine around it holds the
enrollments; per contact it calls ``enrollments_for`` with new events, ``advance`` with all the
contact's events, ``due_step`` for the next send, ``record_step`` once a step is done, and the
sender calls ``stop_reason`` right before sending. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from threadline.rules.conditions import Predicate, RuleError
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, effect_key
from threadline.rules.sequences.branching import (
    BranchDecision,
    CompiledBranch,
    compile_branches,
    decide,
    decided,
    following,
)
from threadline.rules.sequences.caps import SendLimits, apply_mailbox_caps
from threadline.rules.sequences.config import SequenceSettings
from threadline.rules.sequences.enrollment import Enrollment, may_enroll, triggered
from threadline.rules.sequences.schedule import after_delay, contact_zone, into_window
from threadline.rules.sequences.silence import silence_event
from threadline.rules.sequences.steps import DueStep, step_key, template_context
from threadline.rules.sequences.stops import (
    hard_stop,
    ooo_until,
    replies_before_enrolment,
    stop_reason,
    unresumed_reply,
)
from threadline.rules.sequences.templates.render import render
from threadline.rules.sequences.validate import compile_when, sequence_problems
from threadline.rules.sequences.variants import (
    assign_all,
    body_of,
    choose,
    delay_of,
    subject_of,
    variant_named,
)
from threadline.sync.events.records import Event

__all__ = ["BranchDecision", "DueStep", "Enrollment", "Sequencer", "compile_sequences", "stop_reason"]

_NOT_SET = frozenset({"", "false", "0", "no"})


def compile_sequences(settings: Sequence[SequenceSettings], known_fields: set[str] | None = None, *,
                      custom_events: Collection[str] | None = None,
                      owner_timezones: Mapping[str, str] | None = None,
                      path: str = "rules.sequences") -> Sequencer:
    """Validate and compile. Raises RuleError listing every problem with its path: duplicate names, empty
    steps, unknown event types (checked strictly when ``custom_events`` is given, else only near-misses of
    built-in types), bad conditions, unknown contact fields (with ``known_fields``), template errors."""
    problems = sequence_problems(settings, path, known_fields, custom_events)
    if problems:
        raise RuleError(problems)
    compiled = {sequence.name: (sequence, compile_when(sequence, known_fields)) for sequence in settings}
    branches = {sequence.name: [compile_branches(step.branches, sequence.steps, "", known_fields)[0]
                                for step in sequence.steps] for sequence in settings}
    return Sequencer(compiled, owner_timezones or {}, branches)


class Sequencer:
    """Compiled sequences. Every method is pure and deterministic in its arguments."""

    def __init__(self, compiled: Mapping[str, tuple[SequenceSettings, Predicate]],
                 owner_timezones: Mapping[str, str],
                 branches: Mapping[str, list[list[CompiledBranch]]]) -> None:
        self._compiled = dict(compiled)
        self._owner_timezones = dict(owner_timezones)
        self._branches = dict(branches)

    @property
    def names(self) -> list[str]:
        return list(self._compiled)

    def settings(self, name: str) -> SequenceSettings:
        return self._compiled[name][0]

    @property
    def limits(self) -> dict[str, SendLimits]:
        return {name: SendLimits(s.daily_cap_per_mailbox, s.spacing_minutes) for name, (s, _) in self._compiled.items()}

    def zone_of(self, name: str, contact: ContactFacts) -> ZoneInfo:
        """The zone a contact's sending window is read in for sequence ``name``."""
        owner_zone = self._owner_timezones.get(str(contact.fields.get("owner_id") or ""))
        return contact_zone(self.settings(name).window, contact.fields, owner_zone)

    # --- enrolment -------------------------------------------------------------------------------

    def enrollments_for(self, contact: ContactFacts, new_events: Sequence[Event], existing: Sequence[Enrollment],
                        score: Mapping[str, Any], now: datetime) -> list[Enrollment]:
        """New enrollments (enrolled at ``now``) that ``new_events`` trigger for this contact, respecting
        once_per_contact and reenroll_after_days against ``existing`` (all its enrollments, any status).
        A contact with an open enrollment in a sequence is never enrolled in it twice."""
        created = []
        for name, (sequence, when) in self._compiled.items():
            if not triggered(sequence, when, contact, new_events, score, now):
                continue
            previous = [e for e in existing if e.sequence == name and e.contact_id == contact.id]
            generation = may_enroll(sequence, previous, now)
            if generation is not None:
                created.append(assign_all(Enrollment(name, contact.id, now, generation=generation), sequence.steps))
        return created

    def silence_events(self, contact_id: str, events: Sequence[Event], now: datetime) -> list[Event]:
        """``contact.silent`` events for each silence threshold the sequences use (feed them to
        enrollments_for as new events; their ids are stable per silent period)."""
        thresholds = sorted({s.silent_days for s, _ in self._compiled.values() if s.silent_days is not None})
        found = (silence_event(contact_id, events, now, days) for days in thresholds)
        return [event for event in found if event is not None]

    # --- stop rules ------------------------------------------------------------------------------

    def replies_before_enrolment(self, enrollment: Enrollment, held: Sequence[Event]) -> list[Event]:
        """Events to record with a new enrollment, given every event stored for the contact as it is enrolled:
        they mark the replies already there as predating it, so ``advance`` and ``stop_reason`` never count
        them (pass them in with the contact's other events)."""
        return replies_before_enrolment(enrollment, held)

    def advance(self, enrollment: Enrollment, contact: ContactFacts, events: Sequence[Event],
                now: datetime) -> Enrollment:
        """Apply the stop rules to an open enrollment (exited/completed ones come back unchanged).

        Exits: unsubscribe or bounce (ever), meeting booked (unless ``exit_on_meeting`` is off) or manual stop
        (since enrolment), the stage
        field changed to a listed value or holding one, the deal-closed field set. A reply since enrolment
        (one the store did not hold at enrolment, see ``replies_before_enrolment``) pauses (until a manual
        ``sequence.resumed``) or exits with reason "replied". An out-of-office pauses until its return date
        (or ``ooo_pause_days``); a pause whose time has passed resumes.
        """
        if not enrollment.is_open:
            return enrollment
        sequence = self.settings(enrollment.sequence)
        reason = hard_stop(enrollment, events, sequence.exit_on_meeting) \
            or self._field_exit(sequence, enrollment, contact, events)
        if reason is not None:
            return enrollment.exited(reason)
        if unresumed_reply(enrollment, events) is not None:
            if sequence.on_reply == "exit":
                return enrollment.exited("replied")
            return replace(enrollment, status="paused", paused_until=None, exit_reason="replied")
        until = ooo_until(enrollment, events, self.zone_of(enrollment.sequence, contact), sequence.ooo_pause_days)
        if until is not None and until > now:
            return replace(enrollment, status="paused", paused_until=until, exit_reason="out_of_office")
        return replace(enrollment, status="active", paused_until=None, exit_reason=None)

    def _field_exit(self, sequence: SequenceSettings, enrollment: Enrollment, contact: ContactFacts,
                    events: Sequence[Event]) -> str | None:
        stages = {stage.casefold() for stage in sequence.exit_on_stage_change_to}
        for event in events:
            if event.type == "contact.updated" and event.occurred_at >= enrollment.enrolled_at \
                    and event.data.get("field") == sequence.exit_stage_field \
                    and str(event.data.get("new") or "").casefold() in stages:
                return f"stage:{event.data.get('new')}"
        current = contact.value(sequence.exit_stage_field)
        if isinstance(current, str) and current.casefold() in stages:
            return f"stage:{current}"
        if sequence.deal_closed_field:
            closed = contact.value(sequence.deal_closed_field)
            if closed is not None and str(closed).strip().casefold() not in _NOT_SET:
                return "deal_closed"
        return None

    # --- scheduling ------------------------------------------------------------------------------

    def due_at(self, enrollment: Enrollment, contact: ContactFacts) -> datetime | None:
        """When the next step may run (delay, then the sending window in the contact's zone); None when
        the enrollment is finished. Email and task steps both wait for the window."""
        sequence = self.settings(enrollment.sequence)
        if enrollment.step >= len(sequence.steps):
            return None
        step = sequence.steps[enrollment.step]
        zone = self.zone_of(enrollment.sequence, contact)
        start = enrollment.last_step_at or enrollment.enrolled_at
        delay = delay_of(step, variant_named(step, choose(enrollment, enrollment.step, step)))
        earliest = after_delay(start, delay, sequence.window, zone)
        if enrollment.paused_until is not None and enrollment.paused_until > earliest:
            earliest = enrollment.paused_until
        return into_window(earliest, sequence.window, zone)

    def due_step(self, enrollment: Enrollment, contact: ContactFacts, now: datetime, *,
                 owner: Mapping[str, Any] | None = None, unsubscribe_url: str | None = None) -> DueStep | None:
        """The next step if it is due at ``now`` and the enrollment is active; else None. Subject and body are
        rendered with the contact/owner context. Raises TemplateError when a token is missing (e.g. an unset
        contact field used without ``| default``): the caller must hold the step, not send a broken one."""
        if enrollment.status != "active":
            return None
        due_at = self.due_at(enrollment, contact)
        if due_at is None or due_at > now:
            return None
        sequence = self.settings(enrollment.sequence)
        step = sequence.steps[enrollment.step]
        variant = choose(enrollment, enrollment.step, step)
        chosen = variant_named(step, variant)
        context = template_context(contact, owner, enrollment.sequence, enrollment.step, unsubscribe_url)
        return DueStep(
            sequence=enrollment.sequence, contact_id=enrollment.contact_id, step_index=enrollment.step,
            kind=step.kind, due_at=due_at,
            key=step_key(enrollment.sequence, enrollment.contact_id, enrollment.generation, enrollment.step),
            subject=render(subject_of(step, chosen), context), body=render(body_of(step, chosen), context),
            thread_reply=step.kind == "email" and step.reply_in_thread and enrollment.step > 0,
            task_type=getattr(step, "task_type", None), generation=enrollment.generation,
            variant=variant, next_step=following(sequence.steps, enrollment.step),
        )

    def record_step(self, enrollment: Enrollment, step_index: int, done_at: datetime) -> Enrollment:
        """The enrollment after step ``step_index`` was sent/created at ``done_at``: on at the step's ``then`` (or
        the next), completed after the last. Idempotent: recording a step that is not the next one changes nothing."""
        if step_index != enrollment.step or not enrollment.is_open:
            return enrollment
        after = following(self.settings(enrollment.sequence).steps, step_index)
        return replace(enrollment, step=after if after is not None else step_index + 1, last_step_at=done_at,
                       status="completed" if after is None else enrollment.status)

    # --- branches and variants --------------------------------------------------------------------

    def route(self, enrollment: Enrollment, contact: ContactFacts, score: Mapping[str, Any],
              events: Sequence[Event], now: datetime) -> tuple[Enrollment, list[BranchDecision]]:
        """Decide the branches of every step that falls due by ``now`` on the enrolment's way, once each (a
        decision in ``events`` is never taken again): the enrolment at the step it will run (completed when a
        branch went to ``end``) and the new decisions, whose events the caller records with the enrolment. The
        enrolment comes back with a variant recorded for each A/B step ahead of it (one made before a test was
        added gets it here)."""
        decisions: list[BranchDecision] = []
        steps = self.settings(enrollment.sequence).steps
        enrollment = assign_all(enrollment, steps)
        while enrollment.status == "active" and enrollment.step < len(steps):
            branches = self._branches[enrollment.sequence][enrollment.step]
            due_at = self.due_at(enrollment, contact)
            if not branches or due_at is None or due_at > now or decided(enrollment, enrollment.step, events):
                break
            decision = decide(enrollment, branches, steps, contact, score, events, now)
            decisions.append(decision)
            if decision.to == enrollment.step:
                break
            if decision.to is None:
                enrollment = replace(enrollment, status="completed", exit_reason=None)
                break
            enrollment = assign_all(replace(enrollment, step=decision.to), steps)
        return enrollment, decisions

    def apply_mailbox_caps(self, due: Sequence[DueStep], sent_today: Mapping[str, int],
                           mailbox_of: Callable[[str], str], now: datetime,
                           last_sent_at: Mapping[str, datetime] | None = None) -> tuple[list[DueStep], list[DueStep]]:
        """apply_mailbox_caps with each sequence's daily cap and spacing."""
        return apply_mailbox_caps(due, sent_today, mailbox_of, self.limits, now, last_sent_at)

    # --- effects ---------------------------------------------------------------------------------

    def reply_task(self, before: Enrollment, after: Enrollment, owner_id: str | None, now: datetime,
                   due_in_hours: float = 4) -> CreateTask | None:
        """The owner's follow-up task when ``advance`` just stopped an enrollment because of a reply
        (keyed per enrollment generation, so re-evaluation never creates a second task)."""
        if after.exit_reason != "replied" or before.exit_reason == "replied":
            return None
        return CreateTask(
            key=effect_key("sequence_reply_task", after.contact_id, after.sequence, str(after.generation)),
            contact_id=after.contact_id, rule=f"sequence:{after.sequence}", owner_id=owner_id,
            reason=f"replied during sequence {after.sequence} ({after.status})",
            subject=f"Reply to sequence '{after.sequence}': follow up", body="The contact replied; the sequence "
            f"is {'paused' if after.status == 'paused' else 'stopped'}. The reply is on the record.",
            due_at=now + timedelta(hours=due_in_hours), priority="HIGH",
        )
