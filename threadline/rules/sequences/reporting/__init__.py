"""Sequence reporting: stats.py counts sends and outcomes per sequence and step (pure), html.py renders them as one
self-contained HTML file, ab_statistics.py judges a step's A/B test (intervals, p-values, sample sizes; pure)."""
