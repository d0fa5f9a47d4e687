"""Assignment decisions: strategies, routing order, sticky domains, triggers and ownership, as plain data."""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from threadline.rules.assignment import (
    Assigner,
    Assignment,
    AssignmentSettings,
    AssignmentState,
    NoAssignment,
    compile_assignment,
)
from threadline.rules.contact_facts import ContactFacts

NOW = datetime(2024, 6, 7, 14, tzinfo=UTC)
MQL = {"total": 80, "tier": "mql"}


def assigner(**config: Any) -> Assigner:
    config.setdefault("reps", [{"owner_id": o, "name": o.title()} for o in ("ann", "bob", "cat")])
    return compile_assignment(AssignmentSettings.model_validate(config))


def lead(number: int, **fields: Any) -> ContactFacts:
    return ContactFacts(f"c{number}", {"email": f"person{number}@company{number}.example", **fields})


def run(assign: Assigner, contacts: list[ContactFacts], state: AssignmentState | None = None,
        score: dict = MQL) -> tuple[list[str], AssignmentState]:
    """Assign contacts one after another, carrying the state forward as the engine does."""
    state = state or AssignmentState()
    owners = []
    for contact in contacts:
        assignment = assign.assign(contact, score, state, NOW)
        assert assignment is not None
        owners.append(assignment.owner_id)
        state = assignment.state_after
    return owners, state


def test_round_robin_cycles_through_reps_in_listed_order() -> None:
    assign = assigner(rules=[{"name": "all", "reps": ["ann", "bob", "cat"]}])
    owners, state = run(assign, [lead(n) for n in range(7)])
    assert owners == ["ann", "bob", "cat", "ann", "bob", "cat", "ann"]
    assert state.rr_position == {"all": 1}


def test_round_robin_skips_away_and_at_capacity_reps() -> None:
    reps = [{"owner_id": "ann", "away": True}, {"owner_id": "bob", "capacity": 2}, {"owner_id": "cat"}]
    assign = assigner(reps=reps, rules=[{"name": "all", "reps": ["ann", "bob", "cat"]}])
    state = AssignmentState(open_load={"bob": 1})
    owners, state = run(assign, [lead(n) for n in range(4)], state)
    assert owners == ["bob", "cat", "cat", "cat"]   # bob reaches capacity 2 after his first new contact
    assert state.open_load == {"bob": 2, "cat": 3}


def test_every_rep_unavailable_leaves_the_contact_waiting_with_a_reason() -> None:
    reps = [{"owner_id": "ann", "away": True}, {"owner_id": "bob", "capacity": 0}]
    assign = assigner(reps=reps, rules=[{"name": "all", "reps": ["ann", "bob"]}])
    decision = assign.decide(lead(1), MQL, AssignmentState(), NOW)
    assert decision == NoAssignment("c1", "rule all: every rep is away or at capacity", "all")
    assert assign.assign(lead(1), MQL, AssignmentState(), NOW) is None


def test_weighted_distribution_matches_weights_exactly_and_interleaves() -> None:
    reps = [{"owner_id": "ann", "weight": 5}, {"owner_id": "bob", "weight": 3}, {"owner_id": "cat", "weight": 2}]
    assign = assigner(reps=reps, rules=[{"name": "all", "strategy": "weighted", "reps": ["ann", "bob", "cat"]}])
    owners, _ = run(assign, [lead(n) for n in range(100)])
    assert Counter(owners) == {"ann": 50, "bob": 30, "cat": 20}
    assert owners[:10] == ["ann", "bob", "cat", "ann", "ann", "bob", "ann", "cat", "bob", "ann"]
    assert owners == run(assign, [lead(n) for n in range(100)])[0]   # deterministic: plans are reproducible


def test_weighted_skips_away_reps_without_them_accruing_turns() -> None:
    reps = [{"owner_id": "ann", "weight": 2, "away": True}, {"owner_id": "bob", "weight": 1}, {"owner_id": "cat"}]
    assign = assigner(reps=reps, rules=[{"name": "all", "strategy": "weighted", "reps": ["ann", "bob", "cat"]}])
    owners, _ = run(assign, [lead(n) for n in range(6)])
    assert owners == ["bob", "cat", "bob", "cat", "bob", "cat"]


def test_least_load_picks_the_rep_with_fewest_open_tasks_ties_by_list_order() -> None:
    assign = assigner(rules=[{"name": "all", "strategy": "least_load", "reps": ["ann", "bob", "cat"]}])
    state = AssignmentState(open_load={"ann": 3, "bob": 1, "cat": 1})
    owners, state = run(assign, [lead(n) for n in range(5)], state)
    assert owners == ["bob", "cat", "bob", "cat", "ann"]
    assert state.open_load == {"ann": 4, "bob": 3, "cat": 3}


def test_team_rules_use_team_members_in_rep_order() -> None:
    reps = [{"owner_id": "ann", "teams": ["emea"]}, {"owner_id": "bob", "teams": ["us"]},
            {"owner_id": "cat", "teams": ["emea", "us"]}]
    assign = assigner(reps=reps, rules=[{"name": "emea", "team": "emea"}])
    assert run(assign, [lead(n) for n in range(3)])[0] == ["ann", "cat", "ann"]


ROUTING = [
    {"name": "enterprise-dach", "when": {"contact.country": {"in": ["DE", "AT", "CH"]},
                                         "contact.numberofemployees": {">=": 1000}}, "reps": ["ann"]},
    {"name": "fintech", "when": {"contact.industry": "Fintech"}, "reps": ["bob"]},
    {"name": "hot-fit", "when": {"score.fit": {">=": 70}, "score.intent": {">=": 50}}, "reps": ["cat"]},
    {"name": "nurture", "when": {"score.fit": {"<": 70}}, "reps": ["bob", "cat"], "strategy": "least_load"},
]


def test_first_matching_routing_rule_wins() -> None:
    assign = assigner(rules=ROUTING)
    big_german_fintech = lead(1, country="de", numberofemployees="5000", industry="Fintech")
    small_german_fintech = lead(2, country="DE", numberofemployees="50", industry="Fintech")
    cases = [(big_german_fintech, MQL, "enterprise-dach", "ann"),
             (small_german_fintech, MQL, "fintech", "bob"),
             (lead(3, country="US"), {**MQL, "fit": 80, "intent": 60}, "hot-fit", "cat"),
             (lead(4, country="US"), {**MQL, "fit": 40, "intent": 90}, "nurture", "bob")]
    for contact, score, rule, owner in cases:
        assignment = assign.assign(contact, score, AssignmentState(), NOW)
        assert (assignment.rule, assignment.owner_id) == (rule, owner), contact


def test_no_matching_rule_means_no_assignment() -> None:
    assign = assigner(rules=ROUTING)
    decision = assign.decide(lead(1, country="US"), {**MQL, "fit": 90, "intent": 10}, AssignmentState(), NOW)
    assert decision == NoAssignment("c1", "no routing rule matches")


def test_reason_names_rule_strategy_and_rep() -> None:
    assign = assigner(rules=[{"name": "enterprise-west", "reps": ["bob"]}])
    assignment = assign.assign(lead(1), MQL, AssignmentState(), NOW)
    assert assignment.reason == "rule enterprise-west (round robin) -> Bob"
    assert (assignment.strategy, assignment.occasion) == ("round_robin", "tier=mql")


def test_same_company_domain_goes_to_its_existing_owner() -> None:
    assign = assigner(rules=[{"name": "all", "reps": ["ann", "bob", "cat"]}])
    state = AssignmentState(domain_owner={"acme.com": "cat"})
    assignment = assign.assign(ContactFacts("c1", {"email": "dana@ACME.com"}), MQL, state, NOW)
    assert (assignment.owner_id, assignment.rule) == ("cat", "sticky")
    assert assignment.reason == "sticky: acme.com is owned by Cat"
    assert assignment.state_after.rr_position == {}      # sticky does not use up anyone's turn


def test_a_domain_assigned_in_this_run_sticks_for_the_next_contact() -> None:
    assign = assigner(rules=[{"name": "all", "reps": ["ann", "bob", "cat"]}])
    first = ContactFacts("c1", {"email": "a@acme.com"})
    second = ContactFacts("c2", {"email": "b@acme.com"})
    assert run(assign, [first, second])[0] == ["ann", "ann"]


def test_sticky_owner_away_or_unknown_falls_back_to_routing() -> None:
    reps = [{"owner_id": "ann", "away": True}, {"owner_id": "bob"}]
    assign = assigner(reps=reps, rules=[{"name": "all", "reps": ["ann", "bob"]}])
    for owner in ("ann", "former-employee"):
        state = AssignmentState(domain_owner={"acme.com": owner})
        assignment = assign.assign(ContactFacts("c1", {"email": "d@acme.com"}), MQL, state, NOW)
        assert (assignment.owner_id, assignment.rule) == ("bob", "all")
        assert assignment.state_after.domain_owner == {"acme.com": owner}   # the account owner is not rewritten


def test_free_mail_domains_and_disabled_stickiness_never_stick() -> None:
    state = AssignmentState(domain_owner={"gmail.com": "cat", "acme.com": "cat"})
    sticky = assigner(rules=[{"name": "all", "reps": ["ann"]}])
    assert sticky.assign(ContactFacts("c1", {"email": "x@gmail.com"}), MQL, state, NOW).owner_id == "ann"
    not_sticky = assigner(rules=[{"name": "all", "reps": ["ann"]}], sticky_by_domain=False)
    assert not_sticky.assign(ContactFacts("c2", {"email": "x@acme.com"}), MQL, state, NOW).owner_id == "ann"


def test_trigger_not_met_means_no_assignment() -> None:
    assign = assigner(trigger={"score.tier": "mql"}, rules=[{"name": "all", "reps": ["ann"]}])
    decision = assign.decide(lead(1), {"total": 30, "tier": "solution"}, AssignmentState(), NOW)
    assert decision == NoAssignment("c1", "trigger not met")
    assert isinstance(assign.decide(lead(1), MQL, AssignmentState(), NOW), Assignment)


def test_owned_contacts_are_left_alone_unless_only_unowned_is_off() -> None:
    owned = lead(1, hubspot_owner_id="bob")
    assign = assigner(rules=[{"name": "all", "reps": ["ann"]}])
    assert assign.decide(owned, MQL, AssignmentState(), NOW) == NoAssignment("c1", "already owned by Bob")
    assert assign.decide(lead(2, owner_id="zed"), MQL, AssignmentState(), NOW) == NoAssignment(
        "c2", "already owned by zed")
    reassigning = assigner(rules=[{"name": "all", "reps": ["ann"]}], only_unowned=False)
    assert reassigning.assign(owned, MQL, AssignmentState(), NOW).owner_id == "ann"


def test_deciding_never_changes_the_given_state() -> None:
    assign = assigner(rules=[{"name": "all", "reps": ["ann", "bob"]}])
    state = AssignmentState(rr_position={"all": 1}, open_load={"bob": 2})
    assignment = assign.assign(lead(1, email="x@acme.com"), MQL, state, NOW)
    assert state == AssignmentState(rr_position={"all": 1}, open_load={"bob": 2})
    assert assignment.state_after == AssignmentState(rr_position={"all": 0}, open_load={"bob": 3},
                                                     domain_owner={"acme.com": "bob"})
    state.absorb(assignment.change)   # the engine's own copy, applied in place
    assert state == assignment.state_after
