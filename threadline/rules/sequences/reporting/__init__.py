"""Sequence reporting: stats.py counts sends and outcomes per sequence and step (pure), html.py renders them as one
self-contained HTML file."""
