"""Pick a rep from a rule's candidates: round robin, smooth weighted round robin, least open load.

All three are deterministic (no randomness), so a plan is reproducible, and all skip
reps who are away or at capacity. Each returns the chosen rep and the rotation state it
moved, or None when no candidate is available.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from threadline.rules.assignment.config import Rep
from threadline.rules.assignment.state import AssignmentState, StateChange

Pick = tuple[Rep, StateChange]


def is_available(rep: Rep, state: AssignmentState) -> bool:
    """Not away, and under capacity (open follow-up tasks < capacity) when a capacity is set."""
    if rep.away:
        return False
    return rep.capacity is None or state.open_load.get(rep.owner_id, 0) < rep.capacity


def round_robin(rule: str, reps: Sequence[Rep], state: AssignmentState, exclude: Collection[str] = ()) -> Pick | None:
    """The next available rep in list order from the rule's pointer; the pointer moves past the chosen one."""
    count = len(reps)
    start = state.rr_position.get(rule, 0) % count if count else 0
    for step in range(count):
        index = (start + step) % count
        rep = reps[index]
        if rep.owner_id not in exclude and is_available(rep, state):
            return rep, StateChange(rr_position={rule: (index + 1) % count})
    return None


def weighted(rule: str, reps: Sequence[Rep], state: AssignmentState, exclude: Collection[str] = ()) -> Pick | None:
    """Smooth weighted round robin (nginx): over any run of sum(weights) picks, each rep gets exactly its weight.

    Unavailable reps sit out without accruing weight; ties go to the earlier rep in the list.
    """
    eligible = [rep for rep in reps if rep.owner_id not in exclude and is_available(rep, state)]
    if not eligible:
        return None
    previous = state.wrr_current.get(rule, {})
    current = {rep.owner_id: previous.get(rep.owner_id, 0) for rep in reps}
    for rep in eligible:
        current[rep.owner_id] += rep.weight
    chosen = max(eligible, key=lambda rep: current[rep.owner_id])
    current[chosen.owner_id] -= sum(rep.weight for rep in eligible)
    return chosen, StateChange(wrr_current={rule: current})


def least_load(rule: str, reps: Sequence[Rep], state: AssignmentState, exclude: Collection[str] = ()) -> Pick | None:
    """The available rep with the fewest open follow-up tasks; ties go to the earlier rep in the list."""
    eligible = [rep for rep in reps if rep.owner_id not in exclude and is_available(rep, state)]
    if not eligible:
        return None
    return min(eligible, key=lambda rep: state.open_load.get(rep.owner_id, 0)), StateChange()


STRATEGIES: dict[str, Callable[[str, Sequence[Rep], AssignmentState, Collection[str]], Pick | None]] = {
    "round_robin": round_robin,
    "weighted": weighted,
    "least_load": least_load,
}
