"""What `threadline plan` says of each step's A/B test: the split new enrolments get, and, once a ``winner`` ends
the test, how many open enrolments still finish on another variant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from threadline.rules.sequences.branching import reachable, step_edges, step_label
from threadline.rules.sequences.config import SequenceSettings


@dataclass
class TestPreview:
    """One tested step. ``waiting``: open enrolments that can still run the step, by the variant they will run
    if they do (recorded at enrolment; "" for those enrolled before the test, who get the split or the winner).
    ``reached_from``: the steps from which a path leads to it; an enrolment at any other step (a branch took it
    past) will not run it and is not counted."""

    sequence: str
    step_index: int
    step: str
    split: dict[str, float]
    winner: str | None
    reached_from: frozenset[int] = frozenset()
    waiting: Counter[str] = field(default_factory=Counter)

    @property
    def finishing_elsewhere(self) -> dict[str, int]:
        """With a winner: open enrolments that will still run another variant."""
        if self.winner is None:
            return {}
        return {name: n for name, n in sorted(self.waiting.items()) if name and name != self.winner}

    def text(self) -> str:
        """One line for the terminal."""
        where = f"{self.sequence} / {self.step}"
        if self.winner is None:
            split = ", ".join(f"{name} {share:.0%}" for name, share in self.split.items())
            return (f"{where}: A/B test running ({split}); {sum(self.waiting.values())} open enrolments can still "
                    "run it")
        rest = ", ".join(f"{n} on {name}" for name, n in self.finishing_elsewhere.items())
        return (f"{where}: test ended, winner {self.winner}: new enrolments get {self.winner}"
                + (f"; still finishing on their variant: {rest}" if rest else "; no open enrolment on another variant"))


def previews(sequences: Iterable[SequenceSettings]) -> dict[tuple[str, int], TestPreview]:
    """An empty preview per tested step of these sequences, keyed by (sequence, step index)."""
    found = {}
    for sequence in sequences:
        edges = step_edges(sequence.steps)
        for index, step in enumerate(sequence.steps):
            if step.variants:
                total = sum(v.weight for v in step.variants)
                found[(sequence.name, index)] = TestPreview(
                    sequence.name, index, step_label(sequence.steps, index),
                    {v.name: v.weight / total for v in step.variants}, step.winner,
                    frozenset(j for j in range(index + 1) if index in reachable(edges, j)))
    return found


def count_waiting(found: dict[tuple[str, int], TestPreview], sequence: str, step: int,
                  variants: dict[int, str]) -> None:
    """Count one open enrolment (at ``step``, with its recorded ``variants``) under every test it can still reach."""
    for (name, index), preview in found.items():
        if name == sequence and step in preview.reached_from:
            preview.waiting[variants.get(index, "")] += 1
