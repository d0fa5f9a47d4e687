"""The statistics behind a step's A/B test: is one variant's reply rate really better than another's?

Pure functions over counts (sends and successes per variant); nothing here reads the store or the clock.
Standard library only (``math``, ``statistics.NormalDist``): the image has no SciPy, and these few formulas are
short enough to check line by line against the published values in the tests.

- :func:`wilson_interval`: one variant's rate, with Wilson's score interval (Newcombe 1998a, method 3).
- :func:`newcombe_interval`: the difference of two rates, with Newcombe's hybrid score interval (1998b, method 10).
- :func:`two_proportion_p_value`: the pooled two-proportion z-test, or Fisher's exact test on small counts.
- :func:`sends_per_variant`: how many sends each variant needs to detect a given difference.
- :func:`judge` and :func:`judge_against_first`: the plain verdict a report prints, and :data:`PEEKING_CAVEAT`.

References: R. G. Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven
methods", Statistics in Medicine 17:857-872 (1998a); "Interval estimation for the difference between independent
proportions: comparison of eleven methods", Statistics in Medicine 17:873-890 (1998b); J. L. Fleiss, B. Levin,
M. C. Paik, "Statistical Methods for Rates and Proportions", 3rd ed., Wiley 2003, chapter 4 (sample size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Literal

__all__ = [
    "PEEKING_CAVEAT", "Interval", "PValue", "VariantCounts", "Verdict", "fisher_exact_p_value", "judge",
    "judge_against_first", "newcombe_interval", "sends_per_variant", "two_proportion_p_value", "wilson_interval",
    "z_test_p_value",
]

PEEKING_CAVEAT = (
    "Checking a running test again and again and stopping when it looks significant inflates false positives "
    "far above 5 %: the interval and p-value are only valid once each variant has reached the planned number "
    "of sends, so a winner is named only then."
)

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval ``low``..``high`` at confidence ``level`` (0.95 for 95 %)."""

    low: float
    high: float
    level: float

    def excludes(self, value: float) -> bool:
        """True when ``value`` lies outside the interval (the data rule it out at this level)."""
        return value < self.low or value > self.high


@dataclass(frozen=True)
class PValue:
    """A two-sided p-value and the test that produced it."""

    value: float
    test: Literal["z-test", "fisher"]


@dataclass(frozen=True)
class VariantCounts:
    """One variant's numbers: ``sends`` that went out and ``successes`` among them (replies, meetings...)."""

    name: str
    sends: int
    successes: int

    def __post_init__(self) -> None:
        if self.sends < 0 or not 0 <= self.successes <= self.sends:
            raise ValueError(f"variant {self.name!r}: need 0 <= successes <= sends, got {self.successes}/{self.sends}")

    @property
    def rate(self) -> float:
        """successes / sends, or 0.0 before anything was sent."""
        return self.successes / self.sends if self.sends else 0.0


@dataclass(frozen=True)
class Verdict:
    """The comparison of ``challenger`` with ``baseline``, as a report shows it.

    ``difference`` is challenger rate minus baseline rate (positive: the challenger is ahead) and ``interval`` its
    confidence interval; ``p_value`` is None while a variant has no sends. ``needed_per_variant`` is the planned
    sends per variant for ``detectable`` (an absolute difference, 0.05 = 5 points); ``text`` is the one-line verdict.
    """

    baseline: VariantCounts
    challenger: VariantCounts
    difference: float
    interval: Interval
    p_value: PValue | None
    needed_per_variant: int
    detectable: float
    text: str


def _z(level: float) -> float:
    """The two-sided critical value: 1.959964 for 95 %."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    return _STANDARD_NORMAL.inv_cdf(1 - (1 - level) / 2)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> Interval:
    """Wilson's score interval for ``successes / trials`` (Newcombe 1998a, method 3; no continuity correction).

    Chosen over the textbook Wald interval (p +- z*sqrt(p(1-p)/n)) because Wald collapses to zero width at 0 % and
    100 % and covers far less than 95 % at the small counts an A/B test starts with; Wilson's interval stays inside
    [0, 1], is never degenerate, and its coverage is close to nominal. With no trials it is 0..1 (nothing known).
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return Interval(0.0, 1.0, level)
    z, p = _z(level), successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    # At 0 and n successes the exact bound is 0 (or 1); rounding would leave 1e-17 instead.
    low = 0.0 if successes == 0 else (centre - spread) / denominator
    high = 1.0 if successes == trials else (centre + spread) / denominator
    return Interval(low, high, level)


def newcombe_interval(successes_1: int, trials_1: int, successes_2: int, trials_2: int,
                      level: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for the difference of two independent rates, p1 - p2 (1998b, method 10).

    Each rate gets its Wilson interval (l1..u1, l2..u2); the limits for d = p1 - p2 are
    d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and d + sqrt((u1 - p1)^2 + (p2 - l2)^2). It inherits Wilson's behaviour:
    sensible at small counts and at 0 % or 100 %, where the Wald interval for a difference has zero width or
    overshoots [-1, 1]; in Newcombe's evaluation its coverage is close to 95 % and it needs no iteration (unlike
    Miettinen-Nurminen). A variant without sends contributes its whole 0..1 range.
    """
    first, second = wilson_interval(successes_1, trials_1, level), wilson_interval(successes_2, trials_2, level)
    p1 = successes_1 / trials_1 if trials_1 else 0.0
    p2 = successes_2 / trials_2 if trials_2 else 0.0
    d = p1 - p2
    low = d - math.hypot(p1 - first.low, second.high - p2)
    high = d + math.hypot(first.high - p1, p2 - second.low)
    return Interval(max(-1.0, low), min(1.0, high), level)


def z_test_p_value(successes_1: int, trials_1: int, successes_2: int, trials_2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (the Pearson chi-square test without Yates' correction).

    z = (p1 - p2) / sqrt(p(1 - p)(1/n1 + 1/n2)) with the pooled rate p = (x1 + x2) / (n1 + n2): under "no
    difference" both variants share one rate, so the pooled estimate is the right variance. Returns 1.0 when the
    pooled rate is 0 or 1 (both variants all-failure or all-success: no evidence of a difference).
    """
    if trials_1 == 0 or trials_2 == 0:
        raise ValueError("both variants need sends for a test")
    pooled = (successes_1 + successes_2) / (trials_1 + trials_2)
    variance = pooled * (1 - pooled) * (1 / trials_1 + 1 / trials_2)
    if variance == 0:
        return 1.0
    z = (successes_1 / trials_1 - successes_2 / trials_2) / math.sqrt(variance)
    return min(1.0, 2 * _STANDARD_NORMAL.cdf(-abs(z)))


def fisher_exact_p_value(successes_1: int, trials_1: int, successes_2: int, trials_2: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table (successes and failures per variant).

    With the margins fixed, the first variant's successes follow a hypergeometric distribution; the p-value sums
    the probability of every table no more likely than the observed one (the rule R's ``fisher.test`` uses, with
    the same 1e-7 relative tolerance so that ties are not lost to rounding). Computed in log space (``lgamma``)
    so large sends do not overflow.
    """
    if trials_1 == 0 or trials_2 == 0:
        raise ValueError("both variants need sends for a test")
    total_successes, total = successes_1 + successes_2, trials_1 + trials_2

    def log_probability(k: int) -> float:
        return (_log_choose(trials_1, k) + _log_choose(trials_2, total_successes - k)
                - _log_choose(total, total_successes))

    support = range(max(0, total_successes - trials_2), min(trials_1, total_successes) + 1)
    observed = log_probability(successes_1)
    threshold = observed + math.log1p(1e-7)
    logs = [log_probability(k) for k in support]
    return min(1.0, sum(math.exp(value) for value in logs if value <= threshold))


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def two_proportion_p_value(successes_1: int, trials_1: int, successes_2: int, trials_2: int) -> PValue:
    """Two-sided p-value for "the two rates are equal": the pooled z-test, or Fisher's exact test when any expected
    cell count (n_i * pooled rate, n_i * (1 - pooled rate)) is below 5, the usual rule for when the normal
    approximation behind the z-test stops being trustworthy.
    """
    pooled = (successes_1 + successes_2) / (trials_1 + trials_2) if trials_1 + trials_2 else 0.0
    expected = [n * rate for n in (trials_1, trials_2) for rate in (pooled, 1 - pooled)]
    if min(expected) < 5:
        return PValue(fisher_exact_p_value(successes_1, trials_1, successes_2, trials_2), "fisher")
    return PValue(z_test_p_value(successes_1, trials_1, successes_2, trials_2), "z-test")


def sends_per_variant(baseline_rate: float, difference: float, *, alpha: float = 0.05, power: float = 0.8,
                      continuity_correction: bool = False) -> int:
    """Sends each variant needs so that a two-sided test at ``alpha`` detects an absolute ``difference`` (0.05 = 5
    points) from ``baseline_rate`` with probability ``power``.

    The standard formula for two equal groups (Fleiss, Levin & Paik 2003, chapter 4):
    n = (z_{1-alpha/2} sqrt(2 p q) + z_{1-beta} sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2, with p the mean of p1 and p2,
    rounded up. The second rate is baseline + difference, or baseline - difference when that would pass 100 %.
    ``continuity_correction`` applies Fleiss' correction n/4 (1 + sqrt(1 + 4 / (n |p2 - p1|)))^2, which matches a
    test with Yates' correction; the verdict uses the uncorrected size, matching its uncorrected z-test.
    """
    if not 0 <= baseline_rate <= 1 or not 0 < difference < 1:
        raise ValueError(f"need a baseline rate in 0..1 and a difference in (0, 1), got {baseline_rate}, {difference}")
    p1 = baseline_rate
    p2 = p1 + difference if p1 + difference <= 1 else p1 - difference
    if not 0 <= p2 <= 1:
        raise ValueError(f"a {difference:.0%} difference does not fit around a {baseline_rate:.0%} baseline")
    mean = (p1 + p2) / 2
    z_alpha, z_beta = _z(1 - alpha), _STANDARD_NORMAL.inv_cdf(power)
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    n = root * root / (difference * difference)
    if continuity_correction:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * difference))) ** 2
    # 1e-9 keeps an exact integer (up to float noise) from being rounded up to the next one.
    return math.ceil(n - 1e-9)


def judge(baseline: VariantCounts, challenger: VariantCounts, *, level: float = 0.95, detectable: float = 0.05,
          power: float = 0.8, baseline_rate: float | None = None) -> Verdict:
    """Compare ``challenger`` with ``baseline`` (usually variant A) and say it in one line.

    The planned size is :func:`sends_per_variant` for ``detectable`` at ``1 - level`` and ``power``, from
    ``baseline_rate`` (the rate the test was planned with) or, when not given, the baseline variant's observed
    rate (the pooled rate if it has no sends; 50 %, the largest size, if nothing was sent at all).

    Until both variants reach the planned size the text is "not enough data: N more sends per variant for a
    5-point difference", however the interval looks: declaring a winner the first time the interval clears 0 is
    exactly the peeking :data:`PEEKING_CAVEAT` warns about. At the planned size it is "B ahead, 95 % interval
    excludes 0" (or "A ahead, ...") when the Newcombe interval excludes 0, else "no difference shown (interval
    -x..+y points)". The interval and p-value are filled in either way, for the report's table.
    """
    planned_rate = baseline_rate if baseline_rate is not None else _planning_rate(baseline, challenger)
    needed = sends_per_variant(planned_rate, detectable, alpha=1 - level, power=power)
    interval = newcombe_interval(challenger.successes, challenger.sends, baseline.successes, baseline.sends, level)
    p_value = (two_proportion_p_value(challenger.successes, challenger.sends, baseline.successes, baseline.sends)
               if baseline.sends and challenger.sends else None)
    verdict = Verdict(baseline, challenger, challenger.rate - baseline.rate, interval, p_value, needed, detectable,
                      text="")
    return replace(verdict, text=_verdict_text(verdict))


def _planning_rate(baseline: VariantCounts, challenger: VariantCounts) -> float:
    if baseline.sends:
        return baseline.rate
    if challenger.sends:
        return challenger.rate
    return 0.5


def _verdict_text(verdict: Verdict) -> str:
    interval, fewest = verdict.interval, min(verdict.baseline.sends, verdict.challenger.sends)
    span = f"{interval.low * 100:+.1f}..{interval.high * 100:+.1f} points"
    if fewest < verdict.needed_per_variant:
        return (f"not enough data: {verdict.needed_per_variant - fewest} more sends per variant for a "
                f"{verdict.detectable * 100:g}-point difference")
    level = f"{interval.level * 100:g} %"
    if interval.low > 0:
        return f"{verdict.challenger.name} ahead, {level} interval excludes 0 ({span})"
    if interval.high < 0:
        return f"{verdict.baseline.name} ahead, {level} interval excludes 0 ({span})"
    return f"no difference shown (interval {span})"


def judge_against_first(variants: Sequence[VariantCounts], *, level: float = 0.95, detectable: float = 0.05,
                        power: float = 0.8, baseline_rate: float | None = None) -> list[Verdict]:
    """Each variant after the first against the first, with Bonferroni-adjusted intervals.

    With k variants there are k - 1 comparisons, and at 95 % each one alone has a 5 % chance of a false "ahead";
    across all of them the chance that at least one is false grows towards (k - 1) x 5 %. Bonferroni runs each
    comparison at 1 - 5 % / (k - 1) (97.5 % for three variants), which keeps the chance of any false winner at
    5 % or below without assuming the comparisons are independent (they are not: they share the first variant).
    The planned sends grow accordingly. With two variants this is :func:`judge` at ``level``.
    """
    if len(variants) < 2:
        return []
    adjusted = 1 - (1 - level) / (len(variants) - 1)
    first = variants[0]
    return [judge(first, other, level=adjusted, detectable=detectable, power=power, baseline_rate=baseline_rate)
            for other in variants[1:]]
