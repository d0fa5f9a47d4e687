"""The Salesforce contact cursor: per object (Contact, Lead), where the next pull starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Position:
    """The last record read of one object: its SystemModstamp and Id (records are read in that order).
    The next pull reads `SystemModstamp >= stamp` and skips what sorts at or before (stamp, last_id),
    so records sharing one timestamp are neither skipped nor read twice."""

    stamp: datetime | None = None
    last_id: str = ""

    def is_after(self, stamp: datetime, record_id: str) -> bool:
        """True if a record at (stamp, record_id) comes after this position."""
        return self.stamp is None or (stamp, record_id) > (self.stamp, self.last_id)

    def to_dict(self) -> dict[str, Any]:
        return {"stamp": self.stamp.isoformat() if self.stamp else None, "last_id": self.last_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Position:
        if not data or not data.get("stamp"):
            return cls()
        return cls(datetime.fromisoformat(data["stamp"]), str(data.get("last_id") or ""))


@dataclass(frozen=True)
class SalesforceCursor:
    """One Position per object type; None (or {}) means backfill everything."""

    positions: dict[str, Position] = field(default_factory=dict)

    def at(self, object_name: str) -> Position:
        return self.positions.get(object_name, Position())

    def moved(self, object_name: str, position: Position) -> SalesforceCursor:
        return SalesforceCursor({**self.positions, object_name: position})

    def to_dict(self) -> dict[str, Any]:
        return {name: p.to_dict() for name, p in sorted(self.positions.items())}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SalesforceCursor:
        return cls({name: Position.from_dict(p) for name, p in (data or {}).items()})
