"""Run the rule layer over the store: read contacts and events, decide (pure), record effects.

Effects become outbox rows and audit rows in one transaction, with the assignment state
and the events cursor, so a crash repeats nothing and loses nothing. A rule that would
change more than `max_share` of the contacts at once is held back (recorded in status)
until an admin runs `threadline plan --apply --confirm`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session, col, select

from threadline.crashpoints import crashpoint
from threadline.rules.assignment import (
    Assigner,
    Assignment,
    AssignmentState,
    assignment_effects,
    breach_effects,
    compile_assignment,
)
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, Effect, effect_key, is_escalation
from threadline.rules.manual_edits import hand_edits
from threadline.rules.scoring import Scorer, ScoreResult, compile_scoring, scoring_effects
from threadline.rules.sequences import Sequencer, compile_sequences
from threadline.rules.settings import RulesSettings
from threadline.rules.store import (
    STREAM_EVENTS,
    FollowUp,
    audit_row,
    contact_facts,
    contacts_with_events_in,
    due_contacts,
    effect_intent,
    follow_ups,
    live_contact_count,
    live_contact_ids_after,
    load_rule_state,
    load_rule_states,
    newest_event_seq,
    save_next_changes,
    save_rule_state,
    schedule_everyone,
    window_contacts,
    written_fields,
)
from threadline.rules.tally import Tally, held_rules, rule_of, touched_by_rule
from threadline.sync.events.log import EventTuple, event_rows_for
from threadline.sync.outbox.rows import intend
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow, EventRow, OutboxRow
from threadline.sync.store.upsert import insert_ignore
from threadline.sync.work.cursors import record_error

RULES_SOURCE = "rules"
EVENTS_CURSOR = "events_cursor"
ASSIGNMENT_STATE = "assignment"
RULES_FINGERPRINT = "rules_fingerprint"
RULES_PASS = "rules_pass"              # progress of a streamed rules step: resumed after a crash
DUE_BATCH = 1000                       # contacts one rules step re-evaluates for time-driven changes, at most
PASS_BATCH = 2000                      # contacts a streamed pass holds in memory at once
STREAM_ROWS = 5000                     # rows fetched at a time where a whole-table read only aggregates
SLA_RECHECK = timedelta(minutes=5)     # a follow-up past due that the CRM does not have yet: look again then
log = structlog.get_logger("threadline.rules")


@dataclass(frozen=True)
class RuleSet:
    """Compiled rules: what `threadline plan`, `explain` and the daemon evaluate."""

    settings: RulesSettings
    scorer: Scorer | None
    assigner: Assigner | None
    sequencer: Sequencer | None = None

    @property
    def empty(self) -> bool:
        return not self.contact_rules and self.sequencer is None

    @property
    def contact_rules(self) -> bool:
        """Whether scoring or assignment is configured (what RuleRunner evaluates; sequences run elsewhere)."""
        return self.scorer is not None or self.assigner is not None


def compile_rules(settings: RulesSettings, known_fields: set[str] | None = None, *,
                  owner_timezones: Mapping[str, str] | None = None) -> RuleSet:
    """Compile and validate every rule; raises RuleError listing all problems with their paths.

    ``owner_timezones`` (owner id -> IANA zone) is where sequence windows fall back to when a contact has no zone.
    """
    scorer = compile_scoring(settings.scoring, known_fields) if settings.scoring else None
    assigner = compile_assignment(settings.assignment, known_fields) if settings.assignment else None
    # With scoring, its custom_events are the declared types a sequence may enrol on (so a declared
    # `meeting.completed` is not mistaken for a typo of `task.completed`); without it, only near-misses are refused.
    declared = settings.scoring.custom_events if settings.scoring else None
    sequencer = compile_sequences(settings.sequences, known_fields, owner_timezones=owner_timezones,
                                  custom_events=declared) if settings.sequences else None
    return RuleSet(settings, scorer, assigner, sequencer)


@dataclass
class Evaluation:
    """What the rules would do now: effects, and the per-contact reasoning behind them."""

    effects: list[Effect] = field(default_factory=list)
    scores: dict[str, ScoreResult] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    state: AssignmentState = field(default_factory=AssignmentState)
    contacts: int = 0
    total_contacts: int = 0
    evaluated: list[str] = field(default_factory=list)
    next_changes: dict[str, tuple[datetime, str]] = field(default_factory=dict)   # contact -> (when, why)
    full: bool = False                        # every contact was evaluated (plan), not only some

    def touched_by_rule(self) -> Counter[str]:
        return touched_by_rule(self.effects)

    def blocked_rules(self, settings: RulesSettings) -> list[str]:
        """Rules that would change more than max_share of all contacts in this one evaluation."""
        return held_rules(self.touched_by_rule(), self.total_contacts, settings)


@dataclass
class Carry:
    """What a streamed pass hands from one batch's evaluation to the next."""

    state: AssignmentState
    total: int


BatchSource = Callable[[str], Iterator[list[str]]]     # contact-id batches, in id order, from after a given id


class RuleRunner:
    """Evaluates a RuleSet against one store and records what it decides."""

    def __init__(self, store: Store, rules: RuleSet, *, batch_size: int = PASS_BATCH,
                 stream_above: int = STREAM_EVENTS) -> None:
        self.store = store
        self.rules = rules
        self.batch_size = batch_size      # contacts a streamed pass evaluates at a time
        self.stream_above = stream_above  # new events in one step above which it pages contacts by keyset
        self._rules_checked = False       # whether this process compared the rule set with the store's yet

    # -- deciding ------------------------------------------------------------------------------
    def evaluate(self, contact_ids: Iterable[str] | None, now: datetime, *, carry: Carry | None = None) -> Evaluation:
        """Decide for these contacts (None: every live contact) as of `now`. Reads the store, writes nothing.

        Time is an input: `now` may be ahead (`plan --at friday`: what decay and SLAs do by then if nothing
        else happens) or behind (events after it are ignored). A streamed pass passes the same `carry` to each
        batch: the assignment state then moves on from batch to batch as in one evaluation, and the whole-mirror
        reads behind it (domain owners, open load, the contact count) happen once per pass, not per batch."""
        with self.store.session() as session:
            wanted = None if contact_ids is None else set(contact_ids)
            rows = self._contacts(session, wanted)
            ids = [r.crm_id for r in rows]
            history = event_rows_for(session, ids)
            written = written_fields(session, rows)
            followups, task_keys = follow_ups(session, ids) if self._breach_possible() else ({}, set())
            if carry is None:
                carry = self._carry(session)
            state, total = carry.state, carry.total
        # A contact asked about and not found (deleted or merged since) counts as evaluated: nothing is due for it.
        asked = ids if wanted is None else sorted(set(ids) | wanted)
        out = Evaluation(state=state, contacts=len(rows), total_contacts=int(total), evaluated=asked,
                         full=contact_ids is None)
        owner_field = self.rules.settings.assignment.owner_field if self.rules.settings.assignment else None
        for row in rows:
            facts = contact_facts(row, owner_field)
            pending = written.pending.get(row.crm_id)
            if pending:      # decide on what the CRM will hold once intended writes land
                facts = ContactFacts(id=facts.id, fields={**facts.fields, **pending,
                                                          **_owner_alias(pending, owner_field)})
            self._decide(facts, history.get(row.crm_id, []), now, out, written.last.get(row.crm_id, {}))
            self._follow_up(facts, followups.get(row.crm_id), task_keys, history.get(row.crm_id, []), now, out)
        return out

    def _decide(self, facts: ContactFacts, events: list[EventTuple], now: datetime, out: Evaluation,
                last_written: Mapping[str, str]) -> None:
        score: dict[str, Any] = {}
        scoring = self.rules.settings.scoring
        if self.rules.scorer is not None and scoring is not None:
            result = self.rules.scorer.score_rows(facts, events, now)
            out.scores[facts.id] = result
            score = {"total": result.total, "fit": result.fit, "intent": result.intent, "tier": result.tier}
            # The key names the newest event seen, so a return to an earlier value is written again.
            newest = events[-1][0] if events else "none"
            for effect in scoring_effects(facts, result, scoring):
                kept = hand_edits(effect, facts, events, last_written, self.rules.settings.manual_edits, now)
                if kept is not None:
                    out.effects.append(kept.model_copy(update={"key": effect_key("set_fields", facts.id, newest,
                                                                                 kept.key)}))
            if result.next_change is not None:
                out.next_changes[facts.id] = (result.next_change, "decay")
        if self.rules.assigner is not None and self.rules.settings.assignment is not None:
            assignment = self.rules.assigner.assign(facts, score, out.state, now)
            unassigned = _last_unassigned(events)
            if assignment is not None and unassigned is not None:
                # The owner was taken away in the CRM since: assigning again is a new occasion (new keys), or
                # the earlier assignment's keys would make this one a no-op and the contact stay unowned.
                assignment = dataclasses.replace(assignment, occasion=f"{assignment.occasion}|after {unassigned}")
            if assignment is not None:
                out.assignments[facts.id] = assignment
                effects = assignment_effects(facts, assignment, self.rules.settings.assignment, now,
                                             _latest_reply(events))
                out.effects += effects
                out.state.absorb(assignment.change)   # in place: copying the state per contact is quadratic
                if self._breach_possible():
                    for task in effects:
                        if isinstance(task, CreateTask):
                            _sooner(out.next_changes, facts.id, task.due_at, "sla")

    def _follow_up(self, facts: ContactFacts, follow_up: FollowUp | None, task_keys: set[str],
                   events: list[EventTuple], now: datetime, out: Evaluation) -> None:
        """The SLA of the contact's open follow-up task: breached now (reassign or escalate, once), or its due
        time kept as the contact's next change."""
        settings = self.rules.settings.assignment
        if follow_up is None or follow_up.breached or settings is None or not self._breach_possible():
            return
        if any(type_ == "task.completed" and data.get("key") == follow_up.key for _, type_, _, _, data in events):
            return
        if follow_up.due_at >= now:
            _sooner(out.next_changes, facts.id, follow_up.due_at, "sla")
            return
        if not follow_up.created:       # not in the CRM yet: nobody could have done it; look again shortly
            _sooner(out.next_changes, facts.id, now + SLA_RECHECK, "sla")
            return
        effects = breach_effects(facts, follow_up.due_at, True, follow_up.rule, settings, out.state, now)
        fresh = [e for e in effects if e.key not in task_keys]        # acted on once already: not again
        out.effects += fresh
        for task in fresh:
            if isinstance(task, CreateTask) and not is_escalation(task.subject):
                _sooner(out.next_changes, facts.id, task.due_at, "sla")     # the new owner's follow-up

    # -- recording -----------------------------------------------------------------------------
    def apply(self, evaluation: Evaluation, *, confirm: bool = False, cursor: int | None = None) -> ApplySummary:
        """Record the effects (outbox + audit), the assignment state and each evaluated contact's next
        time-driven change in one transaction.

        Rules over the max_share limit are held back unless `confirm`; held rules are
        recorded as errors for `threadline status`. Applying a full evaluation (`plan --apply`) also
        settles a changed rule set: the current rules become the ones the store was evaluated with.
        """
        blocked = [] if confirm else evaluation.blocked_rules(self.rules.settings)
        summary = ApplySummary(blocked=blocked)
        with self.store.session() as session:
            summary.intended = self._record(session, evaluation, blocked)
            _record_held(session, blocked, evaluation.touched_by_rule(), evaluation.total_contacts)
            if cursor is not None:
                save_rule_state(session, EVENTS_CURSOR, {"seq": cursor})
            if evaluation.full and not blocked:
                self._settle_fingerprint(session)
        return summary

    def _record(self, session: Session, evaluation: Evaluation, held: Collection[str]) -> int:
        """Record an evaluation's effects (but those of `held` rules), the assignment state and the evaluated
        contacts' next changes in the caller's transaction; returns how many outbox rows were new."""
        effects = [e for e in evaluation.effects if rule_of(e) not in held]
        intended = intend(session, [effect_intent(e) for e in effects])
        insert_ignore(session, AuditRow, [audit_row(e) for e in effects], ["effect_key"])
        if effects and self.rules.assigner is not None:
            save_rule_state(session, ASSIGNMENT_STATE, _state_json(evaluation.state))
        save_next_changes(session, evaluation.evaluated, evaluation.next_changes)
        return intended

    def _settle_fingerprint(self, session: Session) -> None:
        save_rule_state(session, RULES_FINGERPRINT, {"fingerprint": self.rules.settings.fingerprint()})

    def run_pending(self, now: datetime) -> ApplySummary:
        """The daemon's rules step: evaluate the contacts with new events since the last step and those whose
        next time-driven change (decay, SLA) has come, and record the effects. With nothing new and nothing
        due it costs the events check and one indexed query."""
        if not self.rules.contact_rules:
            return ApplySummary()
        if not self._rules_checked:
            self._rules_checked = True
            self.reevaluate_if_rules_changed(now)
        with self.store.session() as session:
            saved = load_rule_states(session, EVENTS_CURSOR, RULES_PASS)
            since, progress = int(saved[EVENTS_CURSOR].get("seq", 0)), saved[RULES_PASS]
            if progress.get("since") == since:         # a step cut short by a crash: finish that one first
                window = (since, int(progress["newest"]))
                contacts, due = set(), []
            else:
                window = (since, newest_event_seq(session))
                # Seqs only grow, so the window holds at most this many events (a cheap upper bound).
                many = window[1] - since > self.stream_above
                contacts = window_contacts(session, window) if since < window[1] and not many else set()
                due = [] if many else due_contacts(session, now, DUE_BATCH)
                if not many and not contacts and not due:
                    return ApplySummary()
        if progress.get("since") == since or not (contacts or due):
            # Keyset pages over the events index: no id set as large as the portal is ever held. Contacts
            # due for a time-driven change wait for the next step (they stay due).
            batches: BatchSource = self._pages(lambda s, after: contacts_with_events_in(s, window, after,
                                                                                        self.batch_size))
        else:
            batches = _slices(sorted(contacts | set(due)), self.batch_size)

        def advance(session: Session) -> None:
            if window[1] > since:
                save_rule_state(session, EVENTS_CURSOR, {"seq": window[1]})
        return self._stream(batches, now, advance, job={"since": since, "newest": window[1]})

    # -- streamed passes: bounded memory, the share guard judged on the whole pass ------------------------
    def tally(self, now: datetime, *, sample: int = 0,
              on_batch: Callable[[Evaluation], None] | None = None) -> Tally:
        """Evaluate every live contact, `batch_size` at a time, and keep only the totals and the first `sample`
        effects (`threadline plan`); `on_batch` sees each batch's evaluation (e.g. to write it out). Writes
        nothing. Memory holds one batch, whatever the size of the mirror."""
        tally, _ = self._tally(self._live_batches(), now, sample=sample, on_batch=on_batch)
        return tally

    def apply_all(self, now: datetime, *, held: Collection[str] = ()) -> ApplySummary:
        """`plan --apply`: evaluate every live contact again and record the effects of all rules but `held`,
        one bounded transaction per batch (re-running is harmless: effects are keyed). With nothing held the
        store then counts as evaluated with the current rule set."""
        summary = ApplySummary(blocked=sorted(held))
        carry = self._carry()
        for ids in self._live_batches()(""):
            evaluation = self.evaluate(ids, now, carry=carry)
            with self.store.session() as session:
                summary.intended += self._record(session, evaluation, held)
            summary.evaluated += evaluation.contacts
        if not held:
            with self.store.session() as session:
                self._settle_fingerprint(session)
        return summary

    def _tally(self, batches: BatchSource, now: datetime, *, sample: int = 0,
               on_batch: Callable[[Evaluation], None] | None = None) -> tuple[Tally, Evaluation | None]:
        """Pass 1: fold every batch into a Tally. Also returns the evaluation when there was only one batch
        (it is then the whole evaluation, and recording it needs no second pass)."""
        with self.store.session() as session:
            carry = self._carry(session)
        tally = Tally(sample_size=sample, total_contacts=carry.total)
        only: Evaluation | None = None
        for n, ids in enumerate(batches("")):
            evaluation = self.evaluate(ids, now, carry=carry)
            tally.add(evaluation.effects, evaluation.contacts)
            if on_batch is not None:
                on_batch(evaluation)
            only = evaluation if n == 0 else None
        return tally, only

    def _stream(self, batches: BatchSource, now: datetime, finish: Callable[[Session], None],
                job: dict[str, Any]) -> ApplySummary:
        """Evaluate and record `batches` with the share guard exact: pass 1 counts the contacts each rule
        touches over all batches and decides the held rules once; pass 2 evaluates each batch again and records
        it in its own transaction with the progress (`job` and the last contact id), so a crash resumes after
        the last recorded batch. `finish` runs in the transaction that ends the pass."""
        with self.store.session() as session:
            progress = load_rule_state(session, RULES_PASS)
        resumed = {k: progress.get(k) for k in job} == job
        if resumed:
            held, after = list(progress["held"]), str(progress["after"])
        else:
            tally, only = self._tally(batches, now)
            held, after = tally.held(self.rules.settings), ""
            if only is not None or tally.contacts == 0:      # one batch (or none): record it as it is
                return self._record_whole(only, held, tally, finish)
            with self.store.session() as session:
                _record_held(session, held, tally.touched, tally.total_contacts)
                save_rule_state(session, RULES_PASS, {**job, "held": held, "after": after})
        summary = ApplySummary(blocked=held)
        carry = self._carry()
        for ids in batches(after):
            evaluation = self.evaluate(ids, now, carry=carry)
            with self.store.session() as session:
                summary.intended += self._record(session, evaluation, held)
                save_rule_state(session, RULES_PASS, {**job, "held": held, "after": ids[-1]})
            summary.evaluated += evaluation.contacts
            crashpoint("rules.after_batch_commit")
        with self.store.session() as session:
            finish(session)
            save_rule_state(session, RULES_PASS, {})
        return summary

    def _record_whole(self, evaluation: Evaluation | None, held: list[str], tally: Tally,
                      finish: Callable[[Session], None]) -> ApplySummary:
        summary = ApplySummary(blocked=held, evaluated=tally.contacts)
        with self.store.session() as session:
            if evaluation is not None:
                summary.intended = self._record(session, evaluation, held)
            _record_held(session, held, tally.touched, tally.total_contacts)
            finish(session)
        return summary

    def _carry(self, session: Session | None = None) -> Carry:
        """What a pass carries from batch to batch: the assignment state and the live contact count."""
        if session is None:
            with self.store.session() as fresh:
                return self._carry(fresh)
        return Carry(self._assignment_state(session), live_contact_count(session))

    def _live_batches(self) -> BatchSource:
        return self._pages(lambda session, after: live_contact_ids_after(session, after, self.batch_size))

    def _pages(self, page: Callable[[Session, str], list[str]]) -> BatchSource:
        """Keyset pages of contact ids (each read in a short session of its own), from after a given id."""
        def batches(after: str) -> Iterator[list[str]]:
            while True:
                with self.store.session() as session:
                    ids = page(session, after)
                if not ids:
                    return
                yield ids
                after = ids[-1]
        return batches

    def reevaluate_if_rules_changed(self, now: datetime) -> bool:
        """At start: when the rule set differs from the one the store was last evaluated with, make every
        contact due (the rules step then works through them in batches), unless a rule would change more than
        `max_share` of them: then the change is held, as any large change, for `threadline plan --apply
        --confirm`. The first start with rules only records the fingerprint. Returns whether all became due."""
        fingerprint = self.rules.settings.fingerprint()
        with self.store.session() as session:
            saved = load_rule_state(session, RULES_FINGERPRINT).get("fingerprint")
            if saved is None or saved == fingerprint:
                if saved is None:
                    save_rule_state(session, RULES_FINGERPRINT, {"fingerprint": fingerprint})
                return False
        tally = self.tally(now)             # bounded memory: one batch's histories at a time
        touched, total = tally.touched, tally.total_contacts
        held = tally.held(self.rules.settings)
        with self.store.session() as session:
            if held:
                for rule in held:
                    record_error(session, RULES_SOURCE, "rule_held", f"the rules changed: rule {rule} would now "
                                 f"change {touched[rule]} of {total} contacts; run `threadline plan` and then "
                                 "`threadline plan --apply --confirm`")
                log.warning("rules.change_held", rules=held, contacts=total)
                return False
            count = schedule_everyone(session, now, "rules changed")
            save_rule_state(session, RULES_FINGERPRINT, {"fingerprint": fingerprint})
        log.info("rules.changed", contacts=count, note="every contact is re-evaluated in batches")
        return True

    def _breach_possible(self) -> bool:
        settings = self.rules.settings.assignment
        return settings is not None and settings.on_breach.action != "none"

    # -- reading -------------------------------------------------------------------------------
    def _contacts(self, session: Session, ids: Iterable[str] | None) -> list[ContactRow]:
        query = select(ContactRow).where(col(ContactRow.merged_into).is_(None), col(ContactRow.deleted).is_(False))
        if ids is None:
            return list(session.exec(query.order_by(col(ContactRow.crm_id))).all())
        wanted = sorted(set(ids))
        rows: list[ContactRow] = []
        for start in range(0, len(wanted), 500):
            rows += session.exec(query.where(col(ContactRow.crm_id).in_(wanted[start:start + 500]))).all()
        return sorted(rows, key=lambda r: r.crm_id)

    def _assignment_state(self, session: Session) -> AssignmentState:
        saved = load_rule_state(session, ASSIGNMENT_STATE)
        state = AssignmentState(rr_position=dict(saved.get("rr_position", {})),
                                wrr_current={k: dict(v) for k, v in saved.get("wrr_current", {}).items()})
        state.open_load = _open_load(session)
        state.domain_owner = _domain_owners(session)
        return state


@dataclass
class ApplySummary:
    evaluated: int = 0
    intended: int = 0
    blocked: list[str] = field(default_factory=list)


def _owner_alias(fields: dict[str, str], owner_field: str | None) -> dict[str, str]:
    return {"owner_id": fields[owner_field]} if owner_field and owner_field in fields else {}


def _latest_reply(events: list[EventTuple]) -> str | None:
    replies = [data for _, type_, _, _, data in events if type_ == "reply.received"]
    return str(replies[-1].get("text") or replies[-1].get("subject") or "") if replies else None


def _open_load(session: Session) -> dict[str, int]:
    """Open Threadline follow-up tasks per owner: created ones minus those seen completed."""
    # Iterated in pages (yield_per), not fetched whole: both grow with the portal; only the keys are kept.
    completed = {json.loads(d).get("key") for d in session.exec(
        select(EventRow.data).where(EventRow.type == "task.completed").execution_options(yield_per=STREAM_ROWS))}
    load: dict[str, int] = defaultdict(int)
    for key, payload in session.exec(select(OutboxRow.key, OutboxRow.payload).where(
            OutboxRow.kind == "create_task", OutboxRow.status != "failed").execution_options(yield_per=STREAM_ROWS)):
        owner = json.loads(payload).get("owner_id")
        if owner and key not in completed:
            load[owner] += 1
    return dict(load)


def _domain_owners(session: Session) -> dict[str, str]:
    owners: dict[str, str] = {}
    for email, owner in session.exec(select(ContactRow.primary_email, ContactRow.owner_id).where(
            col(ContactRow.owner_id).is_not(None), col(ContactRow.primary_email).is_not(None))
            .execution_options(yield_per=STREAM_ROWS)):       # one row per domain is kept, not one per contact
        domain = ContactFacts(id="", fields={"email": email}).domain
        if domain and owner:
            owners.setdefault(domain, owner)
    return owners


def _state_json(state: AssignmentState) -> dict[str, Any]:
    return {"rr_position": dict(state.rr_position), "wrr_current": {k: dict(v) for k, v in state.wrr_current.items()}}


def _sooner(next_changes: dict[str, tuple[datetime, str]], contact_id: str, at: datetime, reason: str) -> None:
    current = next_changes.get(contact_id)
    if current is None or at < current[0]:
        next_changes[contact_id] = (at, reason)


def _last_unassigned(events: list[EventTuple]) -> str | None:
    """The id of the newest `owner.changed` event that left the contact without an owner, if any."""
    removed = [(at, event_id) for event_id, type_, at, _, data in events
               if type_ == "owner.changed" and not data.get("new")]
    return max(removed)[1] if removed else None


def _record_held(session: Session, held: Collection[str], touched: Mapping[str, int], total: int) -> None:
    """Say in `threadline status` which rules are held, and what to run."""
    for rule in held:
        record_error(session, RULES_SOURCE, "rule_held", f"rule {rule} would change {touched[rule]} of "
                     f"{total} contacts; run `threadline plan` and then `threadline plan --apply --confirm`")


def _slices(ids: list[str], size: int) -> BatchSource:
    """Batches of an id list already in memory (a small step), from after a given id."""
    def batches(after: str) -> Iterator[list[str]]:
        rest = [i for i in ids if i > after]
        for start in range(0, len(rest), size):
            yield rest[start:start + size]
    return batches
