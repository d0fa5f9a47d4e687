"""The custom properties Threadline writes in HubSpot, and how to make sure they exist."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchemaNames:
    """Names of Threadline's custom properties (configurable: a portal may already use these names)."""

    group: str = "threadline"
    email_key: str = "threadline_key"
    last_reply_at: str = "threadline_last_reply_at"
    last_reply_snippet: str = "threadline_last_reply_snippet"
    reply_count: str = "threadline_reply_count"
    task_key: str = "threadline_key"        # on tasks: the rule layer's effect key

    def wanted(self) -> list[tuple[str, str, str, str, str]]:
        """(object type, name, label, type, fieldType) for every property Threadline needs."""
        return [
            ("emails", self.email_key, "Threadline key", "string", "text"),
            ("contacts", self.last_reply_at, "Threadline last reply at", "datetime", "date"),
            ("contacts", self.last_reply_snippet, "Threadline last reply", "string", "textarea"),
            ("contacts", self.reply_count, "Threadline reply count", "number", "number"),
        ]

    def ensured(self) -> list[tuple[str, str, str, str, str]]:
        """What `ensure_schema` creates: `wanted()` plus the rule layer's task key property."""
        return [*self.wanted(), ("tasks", self.task_key, "Threadline key", "string", "text")]
