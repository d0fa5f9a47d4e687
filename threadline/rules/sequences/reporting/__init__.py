"""Sequence reporting (pure): stats.py counts sends and outcomes per sequence and step; outcomes.py and
sequence_outcomes.py the outcome metrics per sequence and per A/B variant (ab_tests.py: who got which variant, the
variant table and its verdicts); branches.py the branch counts; settings.py the `rules.reporting` section; html.py
and outcomes_html.py render them as one self-contained HTML file; ab_statistics.py judges a step's A/B test
(intervals, p-values, sample sizes)."""
