"""Links between objects, each stored in both directions with HubSpot's default type ids.

The ids are HubSpot's HUBSPOT_DEFINED association types (developers.hubspot.com,
"Associations v4 | association type ids"). Contact -> company, deal -> company and
their inverses also have a *Primary* label with its own type id; a primary link
carries both the unlabeled default and the primary id, as HubSpot answers.
"""

from __future__ import annotations

from collections import defaultdict

# (from type, to type) -> HUBSPOT_DEFINED default (unlabeled) association type id
DEFAULT_TYPES: dict[tuple[str, str], int] = {
    ("emails", "contacts"): 198, ("contacts", "emails"): 197,
    ("emails", "companies"): 186, ("companies", "emails"): 185,
    ("emails", "deals"): 210, ("deals", "emails"): 209,
    ("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
    ("tasks", "companies"): 192, ("companies", "tasks"): 191,
    ("tasks", "deals"): 216, ("deals", "tasks"): 215,
    ("meetings", "contacts"): 200, ("contacts", "meetings"): 199,
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
}
#: The "Primary" label (one primary company per contact or deal).
PRIMARY_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1, ("companies", "contacts"): 2,
    ("deals", "companies"): 5, ("companies", "deals"): 6,
}
TYPE_TARGETS = {type_id: pair for pair, type_id in (*DEFAULT_TYPES.items(), *PRIMARY_TYPES.items())}
PRIMARY_IDS = frozenset(PRIMARY_TYPES.values())


def type_label(type_id: int) -> str | None:
    """The label HubSpot shows for a HUBSPOT_DEFINED type: "Primary", or None for an unlabeled one."""
    return "Primary" if type_id in PRIMARY_IDS else None


class Associations:
    """(from type, from id, to type) -> {to id: set of type ids}. Caller holds the sandbox lock."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, int, str], dict[int, set[int]]] = defaultdict(dict)

    def link(self, from_type: str, from_id: int, to_type: str, to_id: int, *, primary: bool = False) -> None:
        """Default association both ways (idempotent); `primary` adds the Primary label, which moves it
        off any other record of `to_type` the source had as primary (one primary per record)."""
        self._add(from_type, from_id, to_type, to_id, DEFAULT_TYPES[(from_type, to_type)])
        self._add(to_type, to_id, from_type, from_id, DEFAULT_TYPES[(to_type, from_type)])
        if primary:
            forward, backward = PRIMARY_TYPES[(from_type, to_type)], PRIMARY_TYPES[(to_type, from_type)]
            for other, types in self._links[(from_type, from_id, to_type)].items():
                if other != to_id and forward in types:
                    types.discard(forward)
                    self._links[(to_type, other, from_type)].get(from_id, set()).discard(backward)
            self._add(from_type, from_id, to_type, to_id, forward)
            self._add(to_type, to_id, from_type, from_id, backward)

    def targets(self, from_type: str, from_id: int, to_type: str) -> list[tuple[int, list[int]]]:
        links = self._links.get((from_type, from_id, to_type), {})
        return [(to_id, sorted(types)) for to_id, types in sorted(links.items())]

    def repoint(self, object_type: str, loser: int, winner: int) -> None:
        """Move every link of `loser` onto `winner` (what a merge does)."""
        for (from_type, from_id, to_type), links in list(self._links.items()):
            if from_type == object_type and from_id == loser:
                for to_id in list(links):
                    self.link(object_type, winner, to_type, to_id)
                    self._links[(to_type, to_id, object_type)].pop(loser, None)
                del self._links[(from_type, from_id, to_type)]

    def _add(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        self._links[(from_type, from_id, to_type)].setdefault(to_id, set()).add(type_id)
