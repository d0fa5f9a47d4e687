"""Lead scoring as a pure function: compile the settings once, then score any contact's events.

``compile_scoring(settings)`` validates everything and returns a Scorer; ``Scorer.score(contact,
events, now)`` replays one contact's events in time order and returns a ScoreResult with every
contribution (see tally.py for the exact semantics of caps, windows, resets and decay).
``scoring_effects`` turns a result into the CRM write; ``explain`` into human lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from threadline.rules.conditions import RuleError
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.scoring.compiled import CompiledRule, EventRow, compile_rule
from threadline.rules.scoring.config import ScoringSettings
from threadline.rules.scoring.explain import explain
from threadline.rules.scoring.results import Contribution, ScoreResult
from threadline.rules.scoring.tally import Tally
from threadline.rules.scoring.validate import settings_problems
from threadline.rules.scoring.write import scoring_effects
from threadline.sync.events.records import Event

__all__ = ["Contribution", "ScoreResult", "Scorer", "compile_scoring", "explain", "scoring_effects"]

JUST_BEFORE = timedelta(microseconds=1)    # the finest step of a datetime: "just before" a moment
_TIME_ORDER = itemgetter(2, 1, 0)   # (occurred_at, type, id): a total order, so any input order scores alike


def compile_scoring(settings: ScoringSettings, known_fields: set[str] | None = None,
                    *, path: str = "rules.scoring") -> Scorer:
    """Validate ``settings`` and compile them. Raises RuleError listing every problem (unknown event types,
    unknown contact fields when ``known_fields`` is given, bad operators, unreachable thresholds, duplicates)."""
    problems = settings_problems(settings, path)
    compiled: list[CompiledRule] = []
    for i, rule in enumerate(settings.rules):
        rule_compiled, rule_problems = compile_rule(rule, i, f"{path}.rules[{i}]", known_fields)
        problems += rule_problems
        if rule_compiled is not None:
            compiled.append(rule_compiled)
    if problems:
        raise RuleError(problems)
    return Scorer(settings, compiled)


class Scorer:
    """Scores one contact's events. Pure and deterministic: same contact, same set of events, same ``now``
    -> same result, whatever the order of the events or how often one is repeated (deduped by id)."""

    def __init__(self, settings: ScoringSettings, rules: Sequence[CompiledRule]) -> None:
        self.settings = settings
        self._by_type: dict[str, tuple[CompiledRule, ...]] = {}
        for rule in rules:
            self._by_type[rule.event] = (*self._by_type.get(rule.event, ()), rule)
        self._resets = {reset.event: (tuple(dict.fromkeys(reset.dimensions)), tuple(
            rule for rule in rules if rule.dimension in reset.dimensions)) for reset in settings.resets}
        self._tiers = sorted(((tier.min, tier.name) for tier in settings.tiers), reverse=True)
        self._stages = sorted(((stage.at_least, stage.value) for stage in settings.stages), reverse=True)
        #: The contact fields any rule's conditions read: only their changes can change what the rules did.
        self.contact_fields = frozenset(name for rule in rules for name in rule.contact_fields)

    def score(self, contact: ContactFacts, events: Iterable[Event], now: datetime) -> ScoreResult:
        """Score ``contact`` from its events (any order, duplicates allowed) as of ``now``; later events are ignored."""
        return self.score_rows(contact, [(e.id, e.type, e.occurred_at, e.source, e.data) for e in events], now)

    def score_rows(self, contact: ContactFacts, rows: Iterable[EventRow], now: datetime) -> ScoreResult:
        """Same as ``score`` over lightweight rows (id, type, occurred_at, source, data): the fast path for bulk
        scoring (plan, replay, benchmark) that skips building Event models."""
        tally = Tally(self.settings.decay)
        contact_ok: dict[int, bool] = {}
        for row in _in_time_order(rows):
            if row[2] > now:
                break
            self._apply(tally, contact, contact_ok, row)
        tally.decay_until(now)
        return self._result(tally, tally.next_decay())

    def score_over_time(self, contact: ContactFacts, rows: Iterable[EventRow], now: datetime,
                        marks: Iterable[datetime] = ()) -> tuple[ScoreResult, list[tuple[datetime, int]]]:
        """``score_rows`` plus the totals over time, oldest first, up to ``now``: at each moment that has events,
        the total just before it (decay due before it settled: the low point since the moment before) and the
        total at it (what ``score_rows(..., now=moment)`` gives); and the total at each of ``marks``. One pass
        over the events: what a backtest replays to find threshold crossings."""
        tally = Tally(self.settings.decay)
        contact_ok: dict[int, bool] = {}
        pending = sorted(mark for mark in marks if mark <= now)
        totals: list[tuple[datetime, int]] = []

        def settle(moment: datetime) -> None:
            tally.decay_until(moment)
            totals.append((moment, tally.points["fit"] + tally.points["intent"]))

        ordered = [row for row in _in_time_order(rows) if row[2] <= now]
        for index, row in enumerate(ordered):
            at = row[2]
            if index == 0 or ordered[index - 1][2] != at:                   # the first event of this moment
                while pending and pending[0] < at:
                    settle(pending.pop(0))
                settle(at - JUST_BEFORE)
            self._apply(tally, contact, contact_ok, row)
            if index + 1 == len(ordered) or ordered[index + 1][2] != at:     # the last event of this moment
                while pending and pending[0] == at:
                    pending.pop(0)
                settle(at)
        for mark in pending:
            settle(mark)
        tally.decay_until(now)
        return self._result(tally, tally.next_decay()), totals

    def _apply(self, tally: Tally, contact: ContactFacts, contact_ok: dict[int, bool], row: EventRow) -> None:
        """One event into the tally: a reset it triggers, then every rule of its type."""
        event_id, type_, at, source, data = row
        reset = self._resets.get(type_)
        if reset is not None:
            tally.reset(*reset, at, event_id, type_)
        rules = self._by_type.get(type_)
        if rules is not None:
            self._fire(tally, rules, contact, contact_ok, event_id, type_, at, source, data)

    def _fire(self, tally: Tally, rules: tuple[CompiledRule, ...], contact: ContactFacts,
              contact_ok: dict[int, bool], event_id: str, type_: str, at: datetime, source: str,
              data: Mapping[str, Any]) -> None:
        matched = []
        for rule in rules:
            if rule.contact_check is not None:
                ok = contact_ok.get(rule.key)
                if ok is None:
                    ok = contact_ok[rule.key] = rule.contact_check(contact)
                if not ok:
                    continue
            if rule.event_check is None or rule.event_check(type_, source, data):
                matched.append(rule)
        if not matched:
            return
        decay_dimension = tally.decay_dimension
        if decay_dimension is not None and any(rule.dimension == decay_dimension for rule in matched):
            tally.active(at)
        for rule in matched:
            tally.award(rule, at, event_id)
        tally.note_peak()

    def _result(self, tally: Tally, next_change: datetime | None) -> ScoreResult:
        fit, intent = tally.points["fit"], tally.points["intent"]
        total = fit + intent
        tier = next((name for minimum, name in self._tiers if total >= minimum), None)
        stage = next((value for at_least, value in self._stages if tally.peak >= at_least), None)
        return ScoreResult(fit, intent, total, tier, stage, tuple(tally.contributions), next_change)


def _in_time_order(rows: Iterable[EventRow]) -> list[EventRow]:
    """Rows sorted by (time, type, id) with repeated ids kept once (the first in that order)."""
    ordered = sorted(rows, key=_TIME_ORDER)
    if len({row[0] for row in ordered}) == len(ordered):
        return ordered
    seen: set[str] = set()
    unique = []
    for row in ordered:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    return unique
