"""Run the rule layer over the store: read contacts and events, decide (pure), record effects.

Effects become outbox rows and audit rows in one transaction, with the assignment state
and the events cursor, so a crash repeats nothing and loses nothing. A rule that would
change more than `max_share` of the contacts at once is held back (recorded in status)
until an admin runs `threadline plan --apply --confirm`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from threadline.rules.assignment import (
    Assigner,
    Assignment,
    AssignmentState,
    assignment_effects,
    breach_effects,
    compile_assignment,
)
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import Effect, effect_key
from threadline.rules.scoring import Scorer, ScoreResult, compile_scoring, scoring_effects
from threadline.rules.sequences import Sequencer, compile_sequences
from threadline.rules.settings import RulesSettings
from threadline.rules.store import audit_row, contact_facts, effect_intent, load_rule_state, save_rule_state
from threadline.sync.events.log import EventTuple, contacts_with_events_after, event_rows_for
from threadline.sync.outbox.rows import intend
from threadline.sync.store.database import Store
from threadline.sync.store.tables import AuditRow, ContactRow, EventRow, OutboxRow
from threadline.sync.store.upsert import insert_ignore
from threadline.sync.work.cursors import record_error

RULES_SOURCE = "rules"
EVENTS_CURSOR = "events_cursor"
ASSIGNMENT_STATE = "assignment"


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

    def touched_by_rule(self) -> Counter[str]:
        return Counter(rule for rule, _ in {(e.rule.split(":")[0], e.contact_id) for e in self.effects})

    def blocked_rules(self, settings: RulesSettings) -> list[str]:
        """Rules that would change more than max_share of all contacts in this one evaluation."""
        if self.total_contacts < settings.min_contacts_for_share_check:
            return []
        limit = settings.max_share * self.total_contacts
        return sorted(rule for rule, n in self.touched_by_rule().items() if n > limit)


class RuleRunner:
    """Evaluates a RuleSet against one store and records what it decides."""

    def __init__(self, store: Store, rules: RuleSet) -> None:
        self.store = store
        self.rules = rules

    # -- deciding ------------------------------------------------------------------------------
    def evaluate(self, contact_ids: Iterable[str] | None, now: datetime) -> Evaluation:
        """Decide for these contacts (None: every live contact). Reads the store, writes nothing."""
        with self.store.session() as session:
            rows = self._contacts(session, contact_ids)
            history = event_rows_for(session, [r.crm_id for r in rows])
            pending = _intended_writes(session, rows)
            state = self._assignment_state(session)
            total = session.exec(select(func.count()).select_from(ContactRow).where(
                col(ContactRow.merged_into).is_(None), col(ContactRow.deleted).is_(False))).one()
        out = Evaluation(state=state, contacts=len(rows), total_contacts=int(total))
        owner_field = self.rules.settings.assignment.owner_field if self.rules.settings.assignment else None
        for row in rows:
            facts = contact_facts(row, owner_field)
            if row.crm_id in pending:      # decide on what the CRM will hold once intended writes land
                facts = ContactFacts(id=facts.id, fields={**facts.fields, **pending[row.crm_id],
                                                          **_owner_alias(pending[row.crm_id], owner_field)})
            self._decide(facts, history.get(row.crm_id, []), now, out)
        return out

    def _decide(self, facts: ContactFacts, events: list[EventTuple], now: datetime, out: Evaluation) -> None:
        score: dict[str, Any] = {}
        if self.rules.scorer is not None and self.rules.settings.scoring is not None:
            result = self.rules.scorer.score_rows(facts, events, now)
            out.scores[facts.id] = result
            score = {"total": result.total, "fit": result.fit, "intent": result.intent, "tier": result.tier}
            # The key names the newest event seen, so a return to an earlier value is written again.
            newest = events[-1][0] if events else "none"
            for effect in scoring_effects(facts, result, self.rules.settings.scoring):
                out.effects.append(effect.model_copy(update={"key": effect_key("set_fields", facts.id, newest,
                                                                               effect.key)}))
        if self.rules.assigner is not None and self.rules.settings.assignment is not None:
            assignment = self.rules.assigner.assign(facts, score, out.state, now)
            if assignment is not None:
                out.assignments[facts.id] = assignment
                out.effects += assignment_effects(facts, assignment, self.rules.settings.assignment, now,
                                                  _latest_reply(events))
                out.state.absorb(assignment.change)   # in place: copying the state per contact is quadratic

    # -- recording -----------------------------------------------------------------------------
    def apply(self, evaluation: Evaluation, *, confirm: bool = False, cursor: int | None = None) -> ApplySummary:
        """Record the effects (outbox + audit) and the assignment state in one transaction.

        Rules over the max_share limit are held back unless `confirm`; held rules are
        recorded as errors for `threadline status`.
        """
        blocked = [] if confirm else evaluation.blocked_rules(self.rules.settings)
        effects = [e for e in evaluation.effects if e.rule.split(":")[0] not in blocked]
        summary = ApplySummary(blocked=blocked)
        with self.store.session() as session:
            summary.intended = intend(session, [effect_intent(e) for e in effects])
            insert_ignore(session, AuditRow, [audit_row(e) for e in effects], ["effect_key"])
            for rule in blocked:
                touched = evaluation.touched_by_rule()[rule]
                record_error(session, RULES_SOURCE, "rule_held", f"rule {rule} would change {touched} of "
                             f"{evaluation.total_contacts} contacts; run `threadline plan` and then "
                             "`threadline plan --apply --confirm`")
            if effects and self.rules.assigner is not None:
                save_rule_state(session, ASSIGNMENT_STATE, _state_json(evaluation.state))
            if cursor is not None:
                save_rule_state(session, EVENTS_CURSOR, {"seq": cursor})
        return summary

    def run_pending(self, now: datetime) -> ApplySummary:
        """Evaluate the contacts that have new events since the last run, plus SLA breaches; record the effects."""
        if not self.rules.contact_rules:
            return ApplySummary()
        with self.store.session() as session:
            since = int(load_rule_state(session, EVENTS_CURSOR).get("seq", 0))
            contacts, newest = contacts_with_events_after(session, since)
        evaluation = self.evaluate(contacts, now) if contacts else Evaluation()
        if contacts or self._breach_possible():
            with self.store.session() as session:
                if not contacts:
                    evaluation.state = self._assignment_state(session)
                evaluation.effects += self._breaches(session, evaluation.state, now)
        if not evaluation.effects and not contacts:
            return ApplySummary()
        summary = self.apply(evaluation, cursor=newest if contacts else None)
        summary.evaluated = len(contacts)
        return summary

    # -- SLA breaches --------------------------------------------------------------------------
    def _breach_possible(self) -> bool:
        settings = self.rules.settings.assignment
        return settings is not None and settings.on_breach.action != "none"

    def _breaches(self, session: Session, state: AssignmentState, now: datetime) -> list[Effect]:
        """Follow-up tasks past due and still open (no task.completed seen) -> reassign or escalate, once."""
        settings = self.rules.settings.assignment
        if settings is None or settings.on_breach.action == "none":
            return []
        completed = {json.loads(d).get("key") for d in session.exec(
            select(EventRow.data).where(EventRow.type == "task.completed")).all()}
        created = set(session.exec(select(OutboxRow.key).where(OutboxRow.kind == "create_task",
                                                               OutboxRow.status == "done")).all())
        # Only each contact's latest follow-up counts: an earlier one was superseded by a reassignment,
        # and escalation tasks ("SLA breached: ...") are not themselves subject to the SLA.
        latest: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for key, rule, contact_id, detail in session.exec(
                select(AuditRow.effect_key, AuditRow.rule, AuditRow.contact_id, AuditRow.detail).where(
                    AuditRow.kind == "create_task", col(AuditRow.rule).startswith("assignment:"))
                .order_by(col(AuditRow.id))).all():
            task = json.loads(detail)
            if not str(task.get("subject", "")).startswith("SLA breached"):
                latest[contact_id] = (key, rule, task)
        effects: list[Effect] = []
        for contact_id, (key, rule, task) in latest.items():
            due = datetime.fromisoformat(task["due_at"])
            row = session.get(ContactRow, contact_id)
            if key in completed or key not in created or due >= now or row is None:
                continue
            effects += breach_effects(contact_facts(row, settings.owner_field), due, True, rule.split(":", 1)[1],
                                      settings, state, now)
        return effects

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


def _intended_writes(session: Session, rows: list[ContactRow]) -> dict[str, dict[str, str]]:
    """Field writes recorded after the mirror last heard from the CRM: contact -> fields (newest last).

    Without them, a contact evaluated again before the CRM pull reflects an owner write would be
    assigned a second time (to the next rep, so with new keys).
    """
    mirrored = {r.crm_id: r.updated_at if r.updated_at.tzinfo else r.updated_at.replace(tzinfo=UTC) for r in rows}
    writes: dict[str, dict[str, str]] = {}
    query = select(OutboxRow.contact_id, OutboxRow.payload, OutboxRow.created_at).where(
        OutboxRow.kind == "set_fields", OutboxRow.status != "failed")
    if len(rows) <= 500:
        query = query.where(col(OutboxRow.contact_id).in_(list(mirrored)))
    for contact_id, payload, created in session.exec(query.order_by(col(OutboxRow.id))).all():
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        if contact_id in mirrored and created > mirrored[contact_id]:
            writes.setdefault(contact_id, {}).update(json.loads(payload)["fields"])
    return writes


def _owner_alias(fields: dict[str, str], owner_field: str | None) -> dict[str, str]:
    return {"owner_id": fields[owner_field]} if owner_field and owner_field in fields else {}


def _latest_reply(events: list[EventTuple]) -> str | None:
    replies = [data for _, type_, _, _, data in events if type_ == "reply.received"]
    return str(replies[-1].get("text") or replies[-1].get("subject") or "") if replies else None


def _open_load(session: Session) -> dict[str, int]:
    """Open Threadline follow-up tasks per owner: created ones minus those seen completed."""
    completed = {json.loads(d).get("key") for d in session.exec(
        select(EventRow.data).where(EventRow.type == "task.completed")).all()}
    load: dict[str, int] = defaultdict(int)
    for key, payload in session.exec(select(OutboxRow.key, OutboxRow.payload).where(
            OutboxRow.kind == "create_task", OutboxRow.status != "failed")).all():
        owner = json.loads(payload).get("owner_id")
        if owner and key not in completed:
            load[owner] += 1
    return dict(load)


def _domain_owners(session: Session) -> dict[str, str]:
    owners: dict[str, str] = {}
    for email, owner in session.exec(select(ContactRow.primary_email, ContactRow.owner_id).where(
            col(ContactRow.owner_id).is_not(None), col(ContactRow.primary_email).is_not(None))).all():
        domain = ContactFacts(id="", fields={"email": email}).domain
        if domain and owner:
            owners.setdefault(domain, owner)
    return owners


def _state_json(state: AssignmentState) -> dict[str, Any]:
    return {"rr_position": dict(state.rr_position), "wrr_current": {k: dict(v) for k, v in state.wrr_current.items()}}
