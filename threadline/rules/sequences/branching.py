"""Branching sequences: a step's ``branches`` decide, when the step falls due, where the enrolment goes instead.

A sequence's steps form a graph whose edges all point forward in the list (a step's ``then`` or the next step,
and each branch's ``goto``), so every enrolment visits a step at most once: step keys stay unique and a sequence
always ends. Each decision is recorded once as a ``sequence.branched`` event (stable id per sequence, generation
and step): a later pass, another replica or `threadline report` reads it back, so the decision is never taken twice
and the report counts every branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from threadline.rules.conditions import Predicate, Test, all_of, parse_conditions
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.sequences.config import END, Branch, EmailStep, TaskStep
from threadline.rules.sequences.enrollment import Enrollment, event_values, score_values
from threadline.sync.events.records import Event, event_id

BRANCHED = "sequence.branched"
#: What a branch's ``when`` may read; ``seen``/``not_seen`` read ``event.*``.
WHEN_NAMESPACES = frozenset({"contact", "score"})
EVENT_NAMESPACES = frozenset({"event"})


def step_label(steps: Sequence[EmailStep | TaskStep], index: int) -> str:
    """How a step is named to people: its name, else "step N" (1-based)."""
    return steps[index].name or f"step {index + 1}"


def step_indexes(steps: Sequence[EmailStep | TaskStep]) -> dict[str, int]:
    """Step name -> index, for the steps that have a name (the first, when a name repeats)."""
    found: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step.name:
            found.setdefault(step.name, i)
    return found


def following(steps: Sequence[EmailStep | TaskStep], index: int) -> int | None:
    """The step after ``index`` once it is done: its ``then``, else the next in the list; None: the end."""
    then = steps[index].then
    if then is None:
        return index + 1 if index + 1 < len(steps) else None
    return None if then == END else step_indexes(steps)[then]


def step_edges(steps: Sequence[EmailStep | TaskStep]) -> dict[int, set[int]]:
    """Step index -> the steps it can lead to: its ``then`` (else the next), and its branches' targets. Targets
    that are unknown or not ahead are left out (validation names them)."""
    names = step_indexes(steps)
    edges: dict[int, set[int]] = {j: set() for j in range(len(steps))}
    for j, step in enumerate(steps):
        for target in ([step.then] if step.then is not None else []) + [b.goto for b in step.branches]:
            if target != END and target in names and names[target] > j:
                edges[j].add(names[target])
        if step.then is None and j + 1 < len(steps):
            edges[j].add(j + 1)
    return edges


def reachable(edges: dict[int, set[int]], start: int) -> set[int]:
    """The steps an enrolment at ``start`` can still run, ``start`` included."""
    reached, todo = {start}, [start]
    while todo:
        for ahead in edges[todo.pop()] - reached:
            reached.add(ahead)
            todo.append(ahead)
    return reached


@dataclass(frozen=True)
class CompiledBranch:
    """A branch with its conditions compiled; ``to`` is the target index (None: end)."""

    number: int                 # 1-based, as the admin counts them
    goto: str
    to: int | None
    when: list[Test]
    seen: list[Test] | None
    not_seen: list[Test] | None
    since: str
    spec: Branch

    def holds(self, values: Mapping[str, Any], events: Sequence[Event]) -> bool:
        if not all_of(self.when)(values):
            return False
        if self.seen is not None and not any(_matches(self.seen, event) for event in events):
            return False
        return self.not_seen is None or not any(_matches(self.not_seen, event) for event in events)

    def why(self, values: Mapping[str, Any], since_label: str) -> str:
        """The conditions that held, in words, with the values they read."""
        parts = [f"{name} {spec_text(test)} (is {_shown(values.get(name))})" for name, test in self.spec.when.items()]
        if self.spec.seen is not None:
            parts.append(f"seen {_event_text(self.spec.seen)} since {since_label}")
        if self.spec.not_seen is not None:
            parts.append(f"no {_event_text(self.spec.not_seen)} since {since_label}")
        return "; ".join(parts) or "always"


@dataclass(frozen=True)
class BranchDecision:
    """Where an enrolment went when a step with branches fell due: ``branch`` 0 is the default path."""

    sequence: str
    contact_id: str
    generation: int
    step: int
    to: int | None
    branch: int
    goto: str
    why: str
    at: datetime

    def event(self) -> Event:
        """The ``sequence.branched`` event that records it (one per sequence, generation and step)."""
        return Event(id=event_id(BRANCHED, self.sequence, str(self.generation), str(self.step), self.contact_id),
                     type=BRANCHED, contact_id=self.contact_id, occurred_at=self.at, source="sequences",
                     data={"sequence": self.sequence, "generation": self.generation, "step": self.step,
                           "to": self.to, "branch": self.branch, "goto": self.goto, "why": self.why})


def compile_branches(branches: Sequence[Branch], steps: Sequence[EmailStep | TaskStep], where: str,
                     known_fields: set[str] | None) -> tuple[list[CompiledBranch], list[str]]:
    """Compile one step's branches; problems as "path: what was expected" (targets are checked by the graph)."""
    names = step_indexes(steps)
    compiled, problems = [], []
    for k, branch in enumerate(branches):
        at = f"{where}.branches[{k}]"
        when, found = parse_conditions(branch.when, f"{at}.when", known_fields, namespaces=WHEN_NAMESPACES)
        problems += found
        seen, seen_problems = _event_tests(branch.seen, f"{at}.seen")
        not_seen, not_seen_problems = _event_tests(branch.not_seen, f"{at}.not_seen")
        problems += seen_problems + not_seen_problems
        to = None if branch.goto == END else names.get(branch.goto)
        compiled.append(CompiledBranch(k + 1, branch.goto, to, when, seen, not_seen, branch.since, branch))
    return compiled, problems


def _event_tests(spec: Mapping[str, Any] | None, where: str) -> tuple[list[Test] | None, list[str]]:
    if spec is None:
        return None, []
    tests, problems = parse_conditions(spec, where, None, namespaces=EVENT_NAMESPACES)
    if "event.type" not in spec:
        problems.append(f"{where}: name the event type (event.type: reply.received, page.visited, ...)")
    return tests, problems


def decided(enrollment: Enrollment, step: int, events: Sequence[Event]) -> bool:
    """Whether this enrolment's branches at ``step`` were already decided (a recorded sequence.branched)."""
    return any(event.type == BRANCHED and event.data.get("sequence") == enrollment.sequence
               and event.data.get("generation") == enrollment.generation and event.data.get("step") == step
               for event in events)


def decide(enrollment: Enrollment, branches: Sequence[CompiledBranch], steps: Sequence[EmailStep | TaskStep],
           contact: ContactFacts, score: Mapping[str, Any], events: Sequence[Event], now: datetime) -> BranchDecision:
    """The first branch of the enrolment's current step that holds at ``now``, else the default (stay)."""
    values = {**contact.flat(), **score_values(score)}
    previous = enrollment.last_step_at or enrollment.enrolled_at
    for branch in branches:
        since = previous if branch.since == "previous_step" else enrollment.enrolled_at
        window = [e for e in events if since <= e.occurred_at <= now and e.type != BRANCHED]
        if branch.holds(values, window):
            label = "enrolment" if branch.since == "enrolment" or enrollment.last_step_at is None \
                else "the previous step"
            return BranchDecision(enrollment.sequence, enrollment.contact_id, enrollment.generation,
                                  enrollment.step, branch.to, branch.number, branch.goto,
                                  branch.why(values, label), now)
    return BranchDecision(enrollment.sequence, enrollment.contact_id, enrollment.generation, enrollment.step,
                          enrollment.step, 0, step_label(steps, enrollment.step), "no branch held", now)


def _matches(tests: Sequence[Test], event: Event) -> bool:
    predicate: Predicate = all_of(tests)
    return predicate(event_values(event))


def spec_text(test: Any) -> str:
    """One condition's test in words: a bare value is "= value", operators are joined with "and"."""
    if isinstance(test, Mapping):
        return " and ".join(f"{op} {operand}" for op, operand in test.items())
    return f"= {test}"


def _event_text(spec: Mapping[str, Any]) -> str:
    kind = spec.get("event.type", "event")
    rest = [f"{name.removeprefix('event.')} {spec_text(test)}" for name, test in spec.items() if name != "event.type"]
    return str(kind) + (f" ({', '.join(rest)})" if rest else "")


def _shown(value: Any) -> str:
    return "unset" if value is None or value == "" else str(value)
