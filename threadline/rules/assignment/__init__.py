"""Owner assignment (`rules.assignment`): pure routing decisions, follow-up tasks with SLA, breach handling.
runner.py one level up reads the store and runs it after scoring. May use the shared rule language;
independent of scoring and sequences. handoff.py, sla_outcome.py and wait_stats.py measure what assignments led to
(MQL -> owner -> first touch, the SLA kept or breached) for `threadline report`."""

from threadline.rules.assignment.breach import breach_effects
from threadline.rules.assignment.config import AssignmentSettings, Breach, Rep, RoutingRule, Sla
from threadline.rules.assignment.effects import assignment_effects
from threadline.rules.assignment.engine import Assigner, compile_assignment, condition_values
from threadline.rules.assignment.state import Assignment, AssignmentState, NoAssignment, StateChange

__all__ = [
    "Assigner", "Assignment", "AssignmentSettings", "AssignmentState", "Breach", "NoAssignment", "Rep",
    "RoutingRule", "Sla", "StateChange", "assignment_effects", "breach_effects", "compile_assignment",
    "condition_values",
]
