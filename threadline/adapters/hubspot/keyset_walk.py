"""The keyset walk over a HubSpot search by modification date, shared by the contact and meeting pulls.

Each page is a fresh `<modified> GTE anchor` query sorted ascending, re-anchored on the last
date seen (offset paging skips records modified mid-pull, and never reaching `after` keeps
clear of the 10,000-result cap); records already seen at the anchor are dropped. An instant
fuller than a page (a bulk import) is walked by object id, then the walk moves past it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

from threadline.adapters.hubspot.cursor import HubSpotCursor

Page = TypeVar("Page")
Search = Callable[[dict[str, Any]], dict[str, Any]]
Walk = Generator[Page, None, HubSpotCursor | None]


class ModifiedDateWalk(Generic[Page]):
    """Yields pages built by `make_page(results, cursor)`; each page's cursor is safe to store."""

    def __init__(self, search: Search, *, modified: str, properties: list[str], page_size: int,
                 make_page: Callable[[list[dict[str, Any]], HubSpotCursor], Page],
                 epoch_ms: Callable[[str], int]) -> None:
        self.search = search
        self.modified = modified
        self.properties = properties
        self.page_size = page_size
        self.make_page = make_page
        self.epoch_ms = epoch_ms

    def pages(self, cursor: HubSpotCursor) -> Iterator[Page]:
        current: HubSpotCursor | None = cursor
        while current is not None:
            if current.after_id is None:
                current = yield from self._by_date(current.modified_after)
            else:
                current = yield from self._one_instant(current.modified_after, current.after_id)

    def _by_date(self, anchor: int) -> Walk[Page]:
        """Pages of GTE-anchor queries. Returns the cursor to continue with, or None when caught up."""
        seen_at_anchor: set[str] = set()
        while True:
            results = self._query([{"propertyName": self.modified, "operator": "GTE", "value": str(anchor)}],
                                  self.modified)
            stamps = [self.epoch_ms(r["properties"][self.modified]) for r in results]
            if len(results) == self.page_size and stamps[0] == stamps[-1]:
                return HubSpotCursor(stamps[0], 0)  # a full page of one instant: walk that instant by id
            fresh = [r for r, t in zip(results, stamps, strict=True) if t != anchor or r["id"] not in seen_at_anchor]
            if results:
                last = stamps[-1]
                seen_at_anchor = ({r["id"] for r, t in zip(results, stamps, strict=True) if t == last}
                                  | (seen_at_anchor if last == anchor else set()))
                anchor = last
            if fresh:
                yield self.make_page(fresh, HubSpotCursor(anchor, None))
            if len(results) < self.page_size:
                return None

    def _one_instant(self, instant: int, after_id: int) -> Walk[Page]:
        """Pages of one instant in id order; returns the cursor just past the instant."""
        while True:
            results = self._query([{"propertyName": self.modified, "operator": "EQ", "value": str(instant)},
                                   {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}],
                                  "hs_object_id")
            if results:
                after_id = int(results[-1]["id"])
                yield self.make_page(results, HubSpotCursor(instant, after_id))
            if len(results) < self.page_size:
                return HubSpotCursor(instant + 1, None)

    def _query(self, filters: list[dict[str, str]], sort: str) -> list[dict[str, Any]]:
        body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": self.properties, "limit": self.page_size}
        return list(self.search(body).get("results") or [])
