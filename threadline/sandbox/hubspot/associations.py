"""Links between objects, each stored in both directions with HubSpot's default type ids."""

from __future__ import annotations

from collections import defaultdict

# (from type, to type) -> HUBSPOT_DEFINED default association type id
DEFAULT_TYPES: dict[tuple[str, str], int] = {
    ("emails", "contacts"): 198, ("contacts", "emails"): 197,
    ("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
    ("meetings", "contacts"): 200, ("contacts", "meetings"): 199,
}
TYPE_TARGETS = {type_id: pair for pair, type_id in DEFAULT_TYPES.items()}


class Associations:
    """(from type, from id, to type) -> {to id: set of type ids}. Caller holds the sandbox lock."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, int, str], dict[int, set[int]]] = defaultdict(dict)

    def link(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Default association both ways (idempotent)."""
        self._links[(from_type, from_id, to_type)].setdefault(to_id, set()).add(DEFAULT_TYPES[(from_type, to_type)])
        self._links[(to_type, to_id, from_type)].setdefault(from_id, set()).add(DEFAULT_TYPES[(to_type, from_type)])

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
