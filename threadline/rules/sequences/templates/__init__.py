"""Sequence email templates: sandboxed Jinja2 with StrictUndefined (render.py) and the bounds on what a template may
cost (limits.py)."""
