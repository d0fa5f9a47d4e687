"""Outcome metrics, A/B variant tables and branch counts on a small hand-made data set (numbers by hand)."""

from datetime import UTC, datetime, timedelta

from threadline.rules.sequences import Enrollment
from threadline.rules.sequences.reporting.ab_tests import sent_variants, variant_test
from threadline.rules.sequences.reporting.branches import BranchTaken, branch_counts, branches_of
from threadline.rules.sequences.reporting.outcomes import OutcomeRules, Outcomes, ScorePoint, score_points
from threadline.rules.sequences.reporting.sequence_outcomes import sequence_outcomes
from threadline.rules.sequences.reporting.settings import ReportingSettings, StageOrder, stage_order
from threadline.rules.sequences.reporting.stats import SendRecord
from threadline.sync.events.records import Event, event_id

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
HUBSPOT = stage_order(ReportingSettings(), "hubspot")
RULES = OutcomeRules(follow=30 * DAY, mql_threshold=40, stages=HUBSPOT)


def event(type_: str, contact: str, at: datetime, **data: object) -> Event:
    return Event(id=event_id(type_, contact, at.isoformat(), repr(sorted(data.items()))), type=type_,
                 contact_id=contact, occurred_at=at, source="test", data=dict(data))


def stage(contact: str, at: datetime, old: str | None, new: str) -> Event:
    return event("contact.updated", contact, at, field="lifecyclestage", old=old, new=new)


def branched(contact: str, generation: int, step: int, branch: int, goto: str, at: datetime = T0) -> Event:
    return event("sequence.branched", contact, at, sequence="welcome", generation=generation, step=step,
                 to=None, branch=branch, goto=goto, why="test")


ENROLLMENTS = [
    Enrollment("welcome", "c1", T0, status="completed", step=1),
    Enrollment("welcome", "c2", T0, status="exited", exit_reason="replied", step=1),
    Enrollment("welcome", "c3", T0, status="active"),
    Enrollment("welcome", "c4", T0, status="exited", exit_reason="replied", step=1),
    Enrollment("welcome", "c4", T0 + 10 * DAY, status="active", generation=2),
]
SENDS = [
    SendRecord("welcome", "c1", 0, T0 + HOUR, "A"),
    SendRecord("welcome", "c2", 0, T0 + HOUR, "B"),
    SendRecord("welcome", "c4", 0, T0 + 2 * HOUR, "B"),
]
EVENTS = {
    "c1": [event("reply.received", "c1", T0 + DAY), event("meeting.booked", "c1", T0 + 2 * DAY),
           stage("c1", T0 + 3 * DAY, "lead", "marketingqualifiedlead")],
    "c2": [stage("c2", T0 - 2 * DAY, "subscriber", "lead"), stage("c2", T0 + 5 * DAY, "lead", "opportunity"),
           event("reply.received", "c2", T0 + 40 * DAY)],                       # after the follow window
    "c3": [event("meeting.booked", "c3", T0 + DAY)],                            # met without a send
    "c4": [event("reply.received", "c4", T0 + 5 * HOUR),
           event("meeting.booked", "c4", T0 + 12 * DAY)],                       # in the 2nd enrolment's window
}
SCORES = {"c1": [ScorePoint(T0 - DAY, 10), ScorePoint(T0 + 3 * DAY, 50)],      # crossed 40 after enrolling
          "c2": [ScorePoint(T0 - DAY, 45)]}                                     # already above: not counted


def test_outcome_metrics_per_sequence() -> None:
    welcome = sequence_outcomes(ENROLLMENTS, SENDS, EVENTS, SCORES, RULES)["welcome"].overall
    assert (welcome.enrolled, welcome.reached, welcome.replied, welcome.reply_rate) == (5, 3, 2, 2 / 3)
    assert (welcome.meetings, welcome.meeting_rate) == (3, 3 / 5)            # c1, c3, c4's 2nd enrolment
    assert (welcome.completed, welcome.completion_rate) == (1, 1 / 5)
    assert (welcome.progressed, welcome.progression_rate) == (2, 2 / 5)
    assert welcome.stage_reached == {"marketingqualifiedlead": 1, "opportunity": 1}
    assert (welcome.mql_eligible, welcome.mql_crossed, welcome.mql_conversion) == (4, 1, 1 / 4)
    assert welcome.median_time_to_first_reply == 13 * HOUR                  # median of 23 h and 3 h


def test_without_an_mql_threshold_or_stage_order_those_metrics_are_left_out() -> None:
    welcome = sequence_outcomes(ENROLLMENTS, SENDS, EVENTS, SCORES, OutcomeRules(follow=30 * DAY))["welcome"]
    assert (welcome.overall.mql_eligible, welcome.overall.mql_conversion) == (0, None)
    assert (welcome.overall.progressed, welcome.overall.stage_reached) == (0, {})


def test_a_shorter_follow_window_loses_the_late_outcomes() -> None:
    rules = OutcomeRules(follow=12 * HOUR, mql_threshold=40, stages=HUBSPOT)
    welcome = sequence_outcomes(ENROLLMENTS, SENDS, EVENTS, SCORES, rules)["welcome"].overall
    assert (welcome.replied, welcome.meetings, welcome.progressed, welcome.mql_crossed) == (1, 0, 0, 0)


def test_each_variant_counts_enrolments_whose_tested_step_went_out_with_it() -> None:
    found = sequence_outcomes(ENROLLMENTS, SENDS, EVENTS, SCORES, RULES)["welcome"]
    a, b = found.variants[0]["A"], found.variants[0]["B"]
    assert (a.reached, a.replied, a.meetings, a.mql_crossed, a.mql_eligible) == (1, 1, 1, 1, 1)
    assert (b.reached, b.replied, b.meetings, b.progressed) == (2, 1, 0, 1)
    test = variant_test(0, found.variants[0], ["A", "B"])
    assert [(row.name, row.sends, row.replies) for row in test.variants] == [("A", 1, 1), ("B", 2, 1)]
    assert test.verdicts[0].baseline.name == "A" and test.verdicts[0].text.startswith("not enough data: ")


def test_a_task_step_takes_its_variant_from_the_enrolment() -> None:
    enrollment = Enrollment("calls", "c9", T0, variants=((1, "short"),))
    sends = [SendRecord("calls", "c9", 0, T0), SendRecord("calls", "c9", 1, T0 + DAY)]
    assert sent_variants(enrollment, sends) == {1: ("short", T0 + DAY)}


def test_the_first_configured_variant_is_the_baseline_and_a_clear_winner_is_named() -> None:
    by_variant = {"A": Outcomes(enrolled=1000, reached=1000, replied=100),
                  "B": Outcomes(enrolled=1000, reached=1000, replied=200)}
    test = variant_test(0, by_variant, ["A", "B", "C"])
    assert [row.name for row in test.variants] == ["A", "B", "C"]           # C configured, not sent yet
    assert [row.sends for row in test.variants] == [1000, 1000, 0]
    b_vs_a, c_vs_a = test.verdicts
    assert b_vs_a.text.startswith("B ahead, 97.5 % interval excludes 0")     # Bonferroni over two comparisons
    assert c_vs_a.text.startswith("not enough data: ")
    low, high = test.variants[0].interval.low, test.variants[0].interval.high
    assert (round(low, 4), round(high, 4)) == (0.0829, 0.1202)              # Wilson, 100 of 1000 (by hand)


def test_branches_are_counted_per_enrolment_and_step() -> None:
    events = {"c1": [branched("c1", 1, 0, 1, "call")],
              "c2": [branched("c2", 1, 0, 0, "step-3"), branched("c2", 9, 0, 1, "call")],   # gen 9: not enrolled
              "c4": [branched("c4", 2, 0, 1, "call"), branched("c4", 2, 2, 2, "end")]}
    counts = branch_counts(ENROLLMENTS, events)
    assert counts == {BranchTaken("welcome", 0, 1, "call"): 2, BranchTaken("welcome", 0, 0, "step-3"): 1,
                      BranchTaken("welcome", 2, 2, "end"): 1}
    first, third = branches_of(counts, "welcome")
    assert (first.step, first.taken, first.total) == (0, [(1, "call", 2), (0, "step-3", 1)], 3)
    assert third.taken == [(2, "end", 1)]
    padded, _ = branches_of(counts, "welcome", {0: ["call", "skip"]})        # branch 2 configured, never taken
    assert padded.taken == [(1, "call", 2), (2, "skip", 0), (0, "step-3", 1)]


def test_stage_order_defaults_by_crm_and_compares_without_case() -> None:
    salesforce = stage_order(ReportingSettings(), "salesforce")
    assert salesforce == StageOrder("Status", ("Open - Not Contacted", "Working - Contacted", "Closed - Converted"))
    assert salesforce.rank("working - contacted") == 1 and salesforce.rank("Closed - Not Converted") is None
    custom = stage_order(ReportingSettings(stage_field="tier", stages=["cold", "warm", "hot"]), "hubspot")
    assert custom == StageOrder("tier", ("cold", "warm", "hot"))


def test_score_history_adds_the_crm_echo_of_the_total_field() -> None:
    echo = [event("contact.updated", "c1", T0 + DAY, field="score", old="10", new="42"),
            event("contact.updated", "c1", T0 + 2 * DAY, field="score", old="42", new="n/a"),
            event("contact.updated", "c1", T0, field="other", old=None, new="99")]
    assert score_points([ScorePoint(T0 - DAY, 10)], echo, "score") == [ScorePoint(T0 - DAY, 10),
                                                                        ScorePoint(T0 + DAY, 42)]
