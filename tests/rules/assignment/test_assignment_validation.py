"""Assignment settings are validated on load: every problem, with its key path."""

import pytest
from pydantic import ValidationError

from threadline.rules.assignment import AssignmentSettings, compile_assignment
from threadline.rules.conditions import RuleError

REPS = [{"owner_id": "101", "teams": ["emea"]}, {"owner_id": "102", "away": True}]


def problems_of(config: dict, known_fields: set[str] | None = None) -> list[str]:
    with pytest.raises(RuleError) as raised:
        compile_assignment(AssignmentSettings.model_validate({"reps": REPS, **config}), known_fields)
    return raised.value.problems


def test_unknown_reps_teams_fields_and_operators_are_all_reported_with_paths() -> None:
    problems = problems_of({
        "trigger": {"score.teir": "mql"},
        "rules": [
            {"name": "dach", "when": {"contact.contry": "DE"}, "reps": ["101", "1O1"]},
            {"name": "emea", "when": {"contact.industry": {"like": "Saa%"}}, "team": "emae"},
        ],
    }, known_fields={"country", "industry"})
    assert problems == [
        "rules.assignment.trigger.score.teir: unknown score 'teir' (known: fit, intent, tier, total)",
        "rules.assignment.rules[0].when.contact.contry: unknown contact field 'contry' (did you mean 'country'?)",
        "rules.assignment.rules[1].when.contact.industry.like: unknown operator 'like' "
        "(known: =, !=, >, >=, <, <=, in, not_in, contains, starts_with, exists)",
        "rules.assignment.rules[0].reps[1]: unknown rep '1O1' (did you mean '101'?)",
        "rules.assignment.rules[1].team: no rep is in team 'emae' (did you mean 'emea'?)",
    ]


def test_event_conditions_make_no_sense_for_assignment() -> None:
    [problem] = problems_of({"rules": [{"name": "x", "when": {"event.url": "/pricing"}, "reps": ["101"]}]})
    assert problem.startswith("rules.assignment.rules[0].when.event.url: unknown namespace 'event'")


def test_duplicates_reserved_names_subject_placeholders_and_escalation_target() -> None:
    problems = problems_of({
        "reps": [*REPS, {"owner_id": "101"}],
        "rules": [{"name": "all", "reps": ["101"]}, {"name": "all", "reps": ["101"]},
                  {"name": "sticky", "reps": ["101"]}],
        "sla": {"task_subject": "Call {fullname}"},
        "on_breach": {"action": "escalate"},
    })
    assert problems == [
        "rules.assignment.reps[0].owner_id: '101' is listed more than once",
        "rules.assignment.reps[2].owner_id: '101' is listed more than once",
        "rules.assignment.rules[0].name: 'all' is used by more than one rule (rotation state is kept per rule name)",
        "rules.assignment.rules[1].name: 'all' is used by more than one rule (rotation state is kept per rule name)",
        "rules.assignment.rules[2].name: 'sticky' is reserved for sticky-by-domain assignments",
        "rules.assignment.sla.task_subject: unknown placeholder {fullname} "
        "(known: {company}, {domain}, {email}, {first_name}, {last_name}, {name}, {owner}, {rule})",
        "rules.assignment.on_breach.escalate_to: required when action is escalate",
    ]


def test_a_rule_whose_reps_are_all_away_loads_with_a_warning() -> None:
    assigner = compile_assignment(AssignmentSettings.model_validate(
        {"reps": REPS, "rules": [{"name": "holiday", "reps": ["102"]}]}))
    assert assigner.warnings == [
        "rules.assignment.rules[0] (holiday): every rep is away; matching contacts stay unassigned"]


@pytest.mark.parametrize("rule", [
    {"name": "both", "reps": ["101"], "team": "emea"},
    {"name": "neither"},
    {"name": "bad name!", "reps": ["101"]},
    {"name": "x", "reps": ["101"], "strategy": "random"},
    {"name": "x", "reps": ["101"], "priority": 1},
])
def test_schema_errors_are_caught_by_the_config_model(rule: dict) -> None:
    with pytest.raises(ValidationError):
        AssignmentSettings.model_validate({"reps": REPS, "rules": [rule]})


def test_rep_weights_and_capacities_are_bounded() -> None:
    with pytest.raises(ValidationError):
        AssignmentSettings.model_validate({"reps": [{"owner_id": "1", "weight": 0}]})
    with pytest.raises(ValidationError):
        AssignmentSettings.model_validate({"reps": [{"owner_id": "1", "capacity": -1}]})
