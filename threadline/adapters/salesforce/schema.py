"""The custom fields Threadline needs in Salesforce, and what to tell the admin when one is missing.

Threadline cannot create fields (that takes the Metadata API and an admin's
consent), so `threadline check` prints exactly what to create in Setup.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WantedField:
    object_name: str        # where the API sees it (Task, Contact, Lead)
    setup_object: str       # where Setup creates it (Task fields live on Activity)
    label: str
    api_name: str
    setup_type: str         # as Setup's "New Custom Field" wizard names it
    api_types: tuple[str, ...]
    external_id: bool = False
    unique: bool = False

    def instructions(self) -> str:
        flags = [f for f, on in (("External ID", self.external_id), ("Unique", self.unique)) if on]
        return (f"create it in Setup > Object Manager > {self.setup_object} > Fields & Relationships > New: "
                f"type {self.setup_type}, Field Label '{self.label}', API name {self.api_name}"
                + (f", tick {' and '.join(flags)}" if flags else ""))


@dataclass(frozen=True)
class SalesforceNames:
    """API names of Threadline's custom fields (configurable: an org may already use these names)."""

    email_key: str = "Threadline_Key__c"
    last_reply_at: str = "Threadline_Last_Reply_At__c"
    last_reply_snippet: str = "Threadline_Last_Reply__c"
    reply_count: str = "Threadline_Reply_Count__c"

    def wanted(self) -> list[WantedField]:
        out = [WantedField("Task", "Activity", "Threadline Key", self.email_key, "Text(255)", ("string",),
                           external_id=True, unique=True)]
        for obj in ("Contact", "Lead"):
            out += [WantedField(obj, obj, "Threadline Last Reply At", self.last_reply_at, "Date/Time", ("datetime",)),
                    WantedField(obj, obj, "Threadline Last Reply", self.last_reply_snippet, "Text Area(255)",
                                ("textarea", "string")),
                    WantedField(obj, obj, "Threadline Reply Count", self.reply_count, "Number(18, 0)",
                                ("double", "int"))]
        return out

    def field(self, object_name: str, api_name: str) -> WantedField | None:
        lowered = api_name.lower()
        return next((w for w in self.wanted() if w.object_name == object_name and w.api_name.lower() == lowered),
                    None)
