"""Threadline: replies from reps' mailboxes land on CRM contact records; rules run inside the CRM.

Layers, top down (dependencies point down only; pyproject's [tool.importlinter] checks it): connector (the
application), config, rules, sync (the engine), adapters, crashpoints. The sandbox stands apart."""

__version__ = "0.1.0"
