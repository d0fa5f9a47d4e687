"""Branch counts for the report: per sequence and per step with branches, how many enrolments took each branch
and how many the default path, read from the recorded ``sequence.branched`` decisions. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from threadline.rules.sequences.branching import BRANCHED
from threadline.rules.sequences.enrollment import Enrollment
from threadline.sync.events.records import Event

__all__ = ["BranchTaken", "StepBranches", "branch_counts", "branches_of"]

@dataclass(frozen=True, order=True)
class BranchTaken:
    """One way out of a step: ``branch`` is the 1-based branch that held, 0 for the default path; ``goto`` is the
    target step's name (or "end")."""

    sequence: str
    step: int
    branch: int
    goto: str


@dataclass(frozen=True)
class StepBranches:
    """One step's decisions: (branch, goto, enrolments) per way taken, branches first, the default (0) last."""

    step: int
    taken: list[tuple[int, str, int]]

    @property
    def total(self) -> int:
        return sum(count for _, _, count in self.taken)


def branch_counts(enrollments: Sequence[Enrollment], events_by_contact: Mapping[str, Sequence[Event]]) -> Counter[
        BranchTaken]:
    """Decisions of these enrolments (matched by sequence, contact and generation). Each decision is stored once
    (one event id per sequence, generation, step and contact), so no de-duplication here."""
    wanted = {(e.sequence, e.contact_id, e.generation) for e in enrollments}
    counts: Counter[BranchTaken] = Counter()
    for contact_id, events in events_by_contact.items():
        for event in events:
            taken = _decision(event, contact_id)
            if taken is not None and taken[0] in wanted:
                counts[taken[1]] += 1
    return counts


def _decision(event: Event, contact_id: str) -> tuple[tuple[str, str, int], BranchTaken] | None:
    """(enrolment key, what was taken) of a well-formed decision event, else None."""
    if event.type != BRANCHED:
        return None
    data = event.data
    try:
        sequence, generation, step = str(data["sequence"]), int(data["generation"]), int(data["step"])
        branch, goto = int(data.get("branch") or 0), str(data.get("goto") or "end")
    except (KeyError, TypeError, ValueError):
        return None
    return (sequence, contact_id, generation), BranchTaken(sequence, step, branch, goto)


def branches_of(counts: Counter[BranchTaken], sequence: str,
                configured: Mapping[int, Sequence[str]] | None = None) -> list[StepBranches]:
    """One sequence's steps that branched, in step order. ``configured``: step index -> its branches' ``goto``
    in order; a configured branch nobody took shows with 0."""
    steps: dict[int, list[tuple[int, str, int]]] = {}
    for taken, count in counts.items():
        if taken.sequence == sequence:
            steps.setdefault(taken.step, []).append((taken.branch, taken.goto, count))
    for step, gotos in (configured or {}).items():
        rows = steps.setdefault(step, [])
        taken_numbers = {branch for branch, _, _ in rows}
        rows += [(number, goto, 0) for number, goto in enumerate(gotos, 1) if number not in taken_numbers]
    return [StepBranches(step, sorted(rows, key=lambda r: (r[0] == 0, r[0], r[1]))) for step, rows in sorted(steps.items())]
