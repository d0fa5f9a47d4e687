"""What an assignment writes: the owner field and a follow-up task due by the SLA; breaches act once."""

from datetime import datetime
from zoneinfo import ZoneInfo

from threadline.rules.assignment import (
    AssignmentSettings,
    AssignmentState,
    assignment_effects,
    breach_effects,
    compile_assignment,
)
from threadline.rules.contact_facts import ContactFacts
from threadline.rules.effects import CreateTask, SetFields

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_4PM = datetime(2024, 6, 7, 16, tzinfo=BERLIN)
MQL = {"total": 80, "tier": "mql"}

SETTINGS = AssignmentSettings.model_validate({
    "reps": [{"owner_id": "101", "name": "Dana"}, {"owner_id": "102", "name": "Lee"}, {"owner_id": "103", "name": "Kim"}],
    "rules": [{"name": "enterprise-west", "reps": ["101", "102", "103"]}],
    "trigger": {"score.tier": "mql"},
    "sla": {"hours": 24, "calendar": {"timezone": "Europe/Berlin"}, "task_subject": "Follow up: {name} ({company})"},
})
JANE = ContactFacts("c1", {"email": "jane@acme.com", "firstname": "Jane", "lastname": "Doe", "company": "Acme",
                           "hubspot_owner_id": ""})


def effects_for(contact: ContactFacts, state: AssignmentState, now: datetime, summary: str | None = None) -> list:
    assignment = compile_assignment(SETTINGS).assign(contact, MQL, state, now)
    assert assignment is not None
    return assignment_effects(contact, assignment, SETTINGS, now, summary)


def test_assignment_sets_the_owner_and_creates_a_follow_up_task_due_by_the_sla() -> None:
    owner, task = effects_for(JANE, AssignmentState(), FRIDAY_4PM, "Sounds good, can we talk Tuesday?")
    assert isinstance(owner, SetFields) and isinstance(task, CreateTask)
    assert owner.fields == {"hubspot_owner_id": "101"}
    assert owner.previous == {"hubspot_owner_id": None}
    assert owner.rule == task.rule == "assignment:enterprise-west"
    assert task.owner_id == "101"
    assert task.subject == "Follow up: Jane Doe (Acme)"
    assert task.body == ("rule enterprise-west (round robin) -> Dana\n\n"
                         "Latest reply:\nSounds good, can we talk Tuesday?")
    assert task.due_at == datetime(2024, 6, 12, 16, tzinfo=BERLIN)   # 24 business hours from Friday 16:00
    assert task.priority == "HIGH"


def test_same_situation_evaluated_again_yields_the_same_keys() -> None:
    first = effects_for(JANE, AssignmentState(), FRIDAY_4PM)
    later = effects_for(JANE, AssignmentState(), datetime(2024, 6, 7, 16, 30, tzinfo=BERLIN))
    assert [effect.key for effect in first] == [effect.key for effect in later]
    assert len({effect.key for effect in first}) == 2


def test_another_owner_or_another_occasion_gets_new_keys() -> None:
    dana = effects_for(JANE, AssignmentState(), FRIDAY_4PM)
    lee = effects_for(JANE, AssignmentState(rr_position={"enterprise-west": 1}), FRIDAY_4PM)
    assert {effect.key for effect in dana}.isdisjoint(effect.key for effect in lee)
    either_tier = SETTINGS.model_copy(update={"trigger": {"score.tier": {"in": ["mql", "sql"]}}})
    assignment = compile_assignment(either_tier).assign(JANE, {"total": 95, "tier": "sql"}, AssignmentState(),
                                                        FRIDAY_4PM)
    as_sql = assignment_effects(JANE, assignment, either_tier, FRIDAY_4PM, None)
    assert assignment.occasion == "tier=sql"
    assert {effect.key for effect in dana}.isdisjoint(effect.key for effect in as_sql)


def test_subject_falls_back_to_email_and_owner_field_follows_the_crm() -> None:
    settings = SETTINGS.model_copy(update={"owner_field": "OwnerId"})
    contact = ContactFacts("003A", {"Email": "ops@initech.example"})
    assignment = compile_assignment(settings).assign(contact, MQL, AssignmentState(), FRIDAY_4PM)
    owner, task = assignment_effects(contact, assignment, settings, FRIDAY_4PM, None)
    assert owner.fields == {"OwnerId": "101"}
    assert task.subject == "Follow up: ops@initech.example ()"
    assert task.body == "rule enterprise-west (round robin) -> Dana"


OVERDUE_DUE = datetime(2024, 6, 12, 16, tzinfo=BERLIN)
THURSDAY = datetime(2024, 6, 13, 10, tzinfo=BERLIN)
DANAS_JANE = ContactFacts("c1", {**JANE.fields, "hubspot_owner_id": "101"})


def with_breach(action: str, escalate_to: str | None = None) -> AssignmentSettings:
    return SETTINGS.model_copy(update={"on_breach": SETTINGS.on_breach.model_copy(
        update={"action": action, "escalate_to": escalate_to})})


def test_breach_reassigns_to_the_next_rep_with_a_new_task_once() -> None:
    settings = with_breach("reassign")
    state = AssignmentState(rr_position={"enterprise-west": 0})
    owner, task = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", settings, state, THURSDAY)
    assert owner.fields == {"hubspot_owner_id": "102"} and owner.previous == {"hubspot_owner_id": "101"}
    assert task.owner_id == "102"
    assert task.due_at == datetime(2024, 6, 18, 10, tzinfo=BERLIN)  # 7 h Thu, 8 h Fri, 8 h Mon, 1 h Tue
    assert "reassigned from Dana to Lee" in task.body
    # Re-evaluated later, with rotation moved on: a different pick, but the same keys, so it happens once.
    again = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", settings,
                           AssignmentState(rr_position={"enterprise-west": 2}), THURSDAY.replace(hour=15))
    assert [effect.key for effect in again] == [owner.key, task.key]


def test_breach_escalates_to_the_manager_and_keeps_the_owner() -> None:
    settings = with_breach("escalate", escalate_to="900")
    [task] = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", settings, AssignmentState(), THURSDAY)
    assert isinstance(task, CreateTask)
    assert (task.owner_id, task.subject, task.priority) == ("900", "SLA breached: Jane Doe", "HIGH")
    assert "Dana's follow-up with Jane Doe" in task.body
    again = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", settings, AssignmentState(),
                           THURSDAY.replace(hour=17))
    assert [effect.key for effect in again] == [task.key]


def test_no_breach_when_task_done_not_yet_due_or_policy_is_none() -> None:
    reassign = with_breach("reassign")
    assert breach_effects(DANAS_JANE, OVERDUE_DUE, False, "enterprise-west", reassign, AssignmentState(), THURSDAY) == []
    assert breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", reassign, AssignmentState(),
                          OVERDUE_DUE) == []
    assert breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", SETTINGS, AssignmentState(), THURSDAY) == []


def test_reassign_with_nobody_else_available_escalates_if_configured() -> None:
    settings = with_breach("reassign", escalate_to="900")
    settings = settings.model_copy(update={"reps": [rep.model_copy(update={"away": rep.owner_id != "101"})
                                                    for rep in settings.reps]})
    [task] = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west", settings, AssignmentState(), THURSDAY)
    assert task.owner_id == "900"
    assert breach_effects(DANAS_JANE, OVERDUE_DUE, True, "enterprise-west",
                          settings.model_copy(update={"on_breach": with_breach("reassign").on_breach}),
                          AssignmentState(), THURSDAY) == []


def test_sticky_assignments_reassign_by_least_load_over_all_reps() -> None:
    settings = with_breach("reassign")
    state = AssignmentState(open_load={"101": 5, "102": 4, "103": 1})
    owner, _ = breach_effects(DANAS_JANE, OVERDUE_DUE, True, "sticky", settings, state, THURSDAY)
    assert owner.fields == {"hubspot_owner_id": "103"}
