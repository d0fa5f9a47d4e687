"""What assignment remembers between decisions, and the records a decision returns.

Decisions never mutate state: they return a `StateChange` (absolute new values for the
keys they touched). Whoever owns the state applies it: `updated()` gives a new state,
`absorb()` applies it in place for a loop that owns its copy (plan over 100k contacts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StateChange:
    """Keys a decision touched, with their new absolute values."""

    rr_position: Mapping[str, int] = field(default_factory=dict)
    wrr_current: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    open_load: Mapping[str, int] = field(default_factory=dict)
    domain_owner: Mapping[str, str] = field(default_factory=dict)

    def merged(self, other: StateChange) -> StateChange:
        """Both changes; `other` wins where both touch a key."""
        return StateChange(
            rr_position={**self.rr_position, **other.rr_position},
            wrr_current={**self.wrr_current, **other.wrr_current},
            open_load={**self.open_load, **other.open_load},
            domain_owner={**self.domain_owner, **other.domain_owner},
        )


@dataclass
class AssignmentState:
    """Rotation pointers, open follow-up load per owner, and company domain owners (from the mirror)."""

    rr_position: dict[str, int] = field(default_factory=dict)              # rule name -> next index (round robin)
    wrr_current: dict[str, dict[str, int]] = field(default_factory=dict)   # rule name -> owner -> current weight
    open_load: dict[str, int] = field(default_factory=dict)                # owner id -> open follow-up tasks
    domain_owner: dict[str, str] = field(default_factory=dict)             # company domain -> owner id

    def updated(self, change: StateChange) -> AssignmentState:
        """A new state with `change` applied; this one is left as it was."""
        copy = AssignmentState(
            rr_position=dict(self.rr_position),
            wrr_current={rule: dict(weights) for rule, weights in self.wrr_current.items()},
            open_load=dict(self.open_load),
            domain_owner=dict(self.domain_owner),
        )
        copy.absorb(change)
        return copy

    def absorb(self, change: StateChange) -> None:
        """Apply `change` in place (for the single owner of this state object)."""
        self.rr_position.update(change.rr_position)
        self.wrr_current.update({rule: dict(weights) for rule, weights in change.wrr_current.items()})
        self.open_load.update(change.open_load)
        self.domain_owner.update(change.domain_owner)


@dataclass(frozen=True)
class Assignment:
    """A contact goes to `owner_id` because of `rule` ("sticky" for domain ownership).

    `occasion` identifies the situation that made the contact assignable (the trigger
    state, e.g. "tier=mql"); effect keys use it so the same situation never yields a
    second task.
    """

    contact_id: str
    owner_id: str
    rule: str
    strategy: str                     # round_robin | weighted | least_load | sticky
    reason: str
    occasion: str
    change: StateChange
    state_before: AssignmentState = field(repr=False, compare=False)

    @property
    def state_after(self) -> AssignmentState:
        """The state after this decision (a copy; `state_before` is unchanged)."""
        return self.state_before.updated(self.change)


@dataclass(frozen=True)
class NoAssignment:
    """Why a contact was not assigned (already owned, trigger not met, no rule, nobody available)."""

    contact_id: str
    reason: str
    rule: str | None = None
