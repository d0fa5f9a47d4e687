"""A/B statistics against published reference values, and the plain verdicts a variant report prints.

Sources of the expected numbers:
- Wilson intervals: Newcombe (1998a), Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction).
- Differences: Newcombe (1998b), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score, no
  correction). For 10/10 vs 0/20 method 10 gives 0.6791..1.0000; 0.7225..1.0000 in that row is method 5 (Mee).
- Sample sizes: JMP's two-sample-proportions example (0.08 vs 0.06, alpha 0.05 two-sided, power 0.8: 2554 per
  group) and Zar, Biostatistical Analysis (1999), example 24.26 (0.45 vs 0.25, power 0.9: 127.2343 per group,
  with Fleiss' continuity correction).
- p-values: worked by hand in the comments.
"""

import math

import pytest

from threadline.rules.sequences.reporting.ab_statistics import (
    PEEKING_CAVEAT,
    VariantCounts,
    fisher_exact_p_value,
    judge,
    judge_against_first,
    newcombe_interval,
    sends_per_variant,
    two_proportion_p_value,
    wilson_interval,
    z_test_p_value,
)


@pytest.mark.parametrize(("successes", "trials", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0000),
])
def test_wilson_interval_matches_newcombe_1998_table_one(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
])
def test_difference_interval_matches_newcombe_1998_method_ten(x1, n1, x2, n2, low, high):
    interval = newcombe_interval(x1, n1, x2, n2)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_difference_interval_mirrors_when_the_variants_swap():
    forward, backward = newcombe_interval(56, 70, 48, 80), newcombe_interval(48, 80, 56, 70)
    assert backward.low == pytest.approx(-forward.high) and backward.high == pytest.approx(-forward.low)


def test_intervals_at_zero_sends_claim_nothing():
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 1.0)
    assert (newcombe_interval(0, 0, 0, 0).low, newcombe_interval(0, 0, 0, 0).high) == (-1.0, 1.0)
    # One side without sends: its whole 0..1 range flows into the difference.
    one_sided = newcombe_interval(30, 100, 0, 0)
    assert one_sided.low < -0.6 and one_sided.high > 0.3


def test_intervals_stay_inside_their_range_at_all_or_nothing():
    everything = wilson_interval(40, 40)
    assert everything.high == 1.0 and 0.9 < everything.low < 1.0
    gap = newcombe_interval(40, 40, 0, 40)
    assert gap.high == 1.0 and 0.8 < gap.low < 1.0


def test_a_wider_level_gives_a_wider_interval():
    at_95, at_99 = newcombe_interval(56, 70, 48, 80, 0.95), newcombe_interval(56, 70, 48, 80, 0.99)
    assert at_99.low < at_95.low and at_99.high > at_95.high and at_99.level == 0.99


def test_z_test_p_value_worked_by_hand():
    # 50/100 vs 30/100: pooled rate 0.4, standard error sqrt(0.4 * 0.6 * (1/100 + 1/100)) = 0.069282,
    # z = 0.2 / 0.069282 = 2.886751 (z^2 = 8.3333 = Pearson's chi-square for the table), two-sided p = 0.003892.
    assert z_test_p_value(50, 100, 30, 100) == pytest.approx(0.003892, abs=5e-7)
    # 56/70 vs 48/80: pooled 104/150, z = 0.2 / 0.075467 = 2.6502, two-sided p = 0.00805.
    assert z_test_p_value(56, 70, 48, 80) == pytest.approx(0.00805, abs=5e-6)
    assert z_test_p_value(30, 100, 50, 100) == z_test_p_value(50, 100, 30, 100)


def test_fisher_exact_p_value_worked_by_hand():
    # 3/4 vs 1/4 (R's TeaTasting table): with the margins fixed, 0..4 successes in the first row have
    # probabilities 1, 16, 36, 16, 1 out of 70; the tables no likelier than 3 are 0, 1, 3 and 4: 34/70.
    assert fisher_exact_p_value(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    # 2/2 vs 0/2: tables 2 and 0 each have probability 1/6, table 1 has 4/6.
    assert fisher_exact_p_value(2, 2, 0, 2) == pytest.approx(2 / 6, rel=1e-12)
    assert fisher_exact_p_value(4, 8, 4, 8) == pytest.approx(1.0)


def test_small_expected_counts_use_fisher_and_large_ones_the_z_test():
    small = two_proportion_p_value(5, 56, 0, 29)  # expected successes in the second variant: 29 * 5/85 = 1.7
    assert small.test == "fisher" and small.value == pytest.approx(fisher_exact_p_value(5, 56, 0, 29))
    large = two_proportion_p_value(56, 70, 48, 80)  # smallest expected count: 70 * 46/150 = 21.5
    assert large.test == "z-test" and large.value == pytest.approx(z_test_p_value(56, 70, 48, 80))
    assert two_proportion_p_value(20, 20, 30, 30).value == pytest.approx(1.0)  # all successes on both sides


def test_sample_size_matches_the_textbook_formula():
    # 0.10 vs 0.15: p = 0.125, (1.959964 * sqrt(2 * 0.125 * 0.875) + 0.841621 * sqrt(0.09 + 0.1275))^2 / 0.05^2
    # = (0.916690 + 0.392506)^2 / 0.0025 = 685.6, so 686 per variant.
    assert sends_per_variant(0.10, 0.05) == 686
    assert sends_per_variant(0.06, 0.02) == 2554  # JMP's example: 0.08 vs 0.06
    # Zar example 24.26: 127.2343 per group with the continuity correction; rounded up to whole sends.
    assert sends_per_variant(0.25, 0.20, power=0.9, continuity_correction=True) == math.ceil(127.2343)
    assert sends_per_variant(0.25, 0.20, power=0.9) < 127.2343


def test_sample_size_grows_for_smaller_differences_and_stricter_levels():
    assert sends_per_variant(0.10, 0.02) > sends_per_variant(0.10, 0.05) > sends_per_variant(0.10, 0.10)
    assert sends_per_variant(0.10, 0.05, alpha=0.025) > sends_per_variant(0.10, 0.05)
    assert sends_per_variant(0.98, 0.05) == sends_per_variant(0.93, 0.05)  # near 100 %: the difference goes down
    with pytest.raises(ValueError):
        sends_per_variant(0.10, 0.0)


def test_verdict_names_the_challenger_when_its_interval_excludes_zero():
    verdict = judge(VariantCounts("A", 1000, 100), VariantCounts("B", 1000, 160))
    assert verdict.needed_per_variant == 686 and verdict.difference == pytest.approx(0.06)
    assert verdict.interval.low > 0 and verdict.p_value is not None and verdict.p_value.value < 0.05
    assert verdict.text.startswith("B ahead, 95 % interval excludes 0")


def test_verdict_names_the_baseline_when_the_challenger_is_behind():
    verdict = judge(VariantCounts("benefit subject", 1000, 160), VariantCounts("question subject", 1000, 100),
                    baseline_rate=0.10)
    assert verdict.interval.high < 0
    assert verdict.text.startswith("benefit subject ahead, 95 % interval excludes 0")


def test_verdict_shows_no_difference_with_the_interval_in_points():
    verdict = judge(VariantCounts("A", 1000, 100), VariantCounts("B", 1000, 110))
    low, high = verdict.interval.low * 100, verdict.interval.high * 100
    assert low < 0 < high
    assert verdict.text == f"no difference shown (interval {low:+.1f}..{high:+.1f} points)"


def test_verdict_waits_for_the_planned_sample_even_when_the_interval_already_clears_zero():
    verdict = judge(VariantCounts("A", 100, 10), VariantCounts("B", 120, 30))
    assert verdict.interval.low > 0  # looks like a winner, but only 100 of the 686 planned sends
    assert verdict.text == "not enough data: 586 more sends per variant for a 5-point difference"


def test_verdict_with_no_sends_plans_for_the_worst_case():
    verdict = judge(VariantCounts("A", 0, 0), VariantCounts("B", 0, 0))
    assert verdict.p_value is None and (verdict.interval.low, verdict.interval.high) == (-1.0, 1.0)
    assert verdict.needed_per_variant == sends_per_variant(0.5, 0.05)
    assert verdict.text == f"not enough data: {verdict.needed_per_variant} more sends per variant for a 5-point difference"


def test_verdict_with_unequal_groups_counts_the_smaller_one():
    verdict = judge(VariantCounts("A", 2000, 200), VariantCounts("B", 500, 60))
    assert verdict.text == "not enough data: 186 more sends per variant for a 5-point difference"


def test_verdict_when_everything_succeeds():
    verdict = judge(VariantCounts("A", 200, 200), VariantCounts("B", 200, 200))
    assert verdict.needed_per_variant == sends_per_variant(1.0, 0.05) < 200  # planned as 100 % vs 95 %
    assert verdict.p_value is not None and verdict.p_value.test == "fisher" and verdict.p_value.value == 1.0
    assert verdict.text.startswith("no difference shown")


def test_more_than_two_variants_compare_each_with_the_first_at_a_bonferroni_level():
    variants = [VariantCounts("A", 1500, 150), VariantCounts("B", 1500, 230), VariantCounts("C", 1500, 140)]
    verdicts = judge_against_first(variants)
    assert [v.challenger.name for v in verdicts] == ["B", "C"]
    assert all(v.interval.level == pytest.approx(0.975) for v in verdicts)
    assert verdicts[0].needed_per_variant == sends_per_variant(0.10, 0.05, alpha=0.025)
    assert verdicts[0].text.startswith("B ahead, 97.5 % interval excludes 0")
    assert verdicts[1].text.startswith("no difference shown")
    assert judge_against_first(variants[:2])[0].interval == judge(*variants[:2]).interval
    assert judge_against_first(variants[:1]) == []


def test_counts_that_cannot_be_are_refused():
    with pytest.raises(ValueError):
        VariantCounts("A", 10, 11)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)


def test_peeking_caveat_says_when_the_interval_is_valid():
    assert "false positives" in PEEKING_CAVEAT and "planned number of sends" in PEEKING_CAVEAT
