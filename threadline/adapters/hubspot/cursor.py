"""The HubSpot contact cursor: where the next pull starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HubSpotCursor:
    """`modified_after`: epoch ms; the next pull reads contacts modified at or after it.

    `after_id` is set only while walking one instant that holds more contacts than
    a page (a bulk import): the pull then reads that instant by contact id, past
    `after_id`, before moving on to later instants.
    """

    modified_after: int = 0
    after_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"modified_after": self.modified_after, "after_id": self.after_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> HubSpotCursor:
        """None (or {}) means: backfill everything."""
        if not data:
            return cls()
        after_id = data.get("after_id")
        return cls(int(data.get("modified_after", 0)), None if after_id is None else int(after_id))
