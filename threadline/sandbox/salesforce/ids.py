"""Salesforce record ids: 3-character key prefix, 15 case-sensitive characters, 3-character checksum.

The 18-character form is what the API returns; the 15-character form is accepted
wherever an id is read. Ids from one org sort in creation order.
"""

from __future__ import annotations

import itertools
import threading

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
PREFIXES = {"Contact": "003", "Lead": "00Q", "Task": "00T", "EmailMessage": "02s",
            "EmailMessageRelation": "0Dy", "User": "005", "Event": "00U", "Account": "001", "Opportunity": "006",
            "OpportunityContactRole": "00K"}
ORG_ID = "00D5g0000012345EAA"


def checksum(id15: str) -> str:
    """The 3 characters Salesforce appends: one per 5-character chunk, from which characters are capitals."""
    out = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out += SUFFIX[bits]
    return out


def to18(record_id: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (other strings are returned unchanged)."""
    return record_id + checksum(record_id) if len(record_id) == 15 else record_id


def _base62(n: int, width: int) -> str:
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = BASE62[r] + digits
    return digits.rjust(width, "0")


class IdFactory:
    """Hands out fresh 18-character ids per object type; thread-safe."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, object_type: str) -> str:
        with self._lock:
            n = next(self._counter)
        id15 = PREFIXES[object_type] + "5g0" + _base62(n, 9)
        return id15 + checksum(id15)


def object_type_of(record_id: str) -> str | None:
    """Which object an id belongs to, by its key prefix."""
    prefix = record_id[:3]
    return next((name for name, p in PREFIXES.items() if p == prefix), None)
