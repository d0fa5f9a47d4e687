"""Meetings booked with contacts, pulled incrementally over the meetings search API.

Same keyset walk as the contact pull (see contacts.py for why): each page is a
fresh `hs_lastmodifieddate GTE anchor` query sorted ascending; an instant fuller
than a page is walked by object id. The contacts of a page's meetings come from
one v4 batch association read (meeting -> contact, type 200). A meeting may come
again (modified later, or the boundary re-read on resume): consumers dedupe by id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from threadline.adapters.hubspot.contacts import epoch_ms, parse_hubspot_time
from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.hubspot.tasks import parse_time
from threadline.adapters.records import CrmMeeting

Search = Callable[[dict[str, Any]], dict[str, Any]]
ContactsOf = Callable[[Sequence[str]], dict[str, list[str]]]
MODIFIED = "hs_lastmodifieddate"
PROPERTIES = ["hs_meeting_start_time", "hs_timestamp", MODIFIED]
Page = tuple[list[CrmMeeting], dict[str, Any]]


class MeetingPull:
    """One pass of `pull_meetings`: every meeting modified since the cursor, with its contacts."""

    def __init__(self, search: Search, contacts_of: ContactsOf, *, page_size: int = 100) -> None:
        self.search = search
        self.contacts_of = contacts_of
        self.page_size = page_size

    def pages(self, cursor: HubSpotCursor) -> Iterator[Page]:
        current: HubSpotCursor | None = cursor
        while current is not None:
            if current.after_id is None:
                current = yield from self._by_date(current.modified_after)
            else:
                current = yield from self._one_instant(current.modified_after, current.after_id)

    def _by_date(self, anchor: int) -> Iterator[Page]:
        seen_at_anchor: set[str] = set()
        while True:
            results = self._query([{"propertyName": MODIFIED, "operator": "GTE", "value": str(anchor)}], MODIFIED)
            stamps = [epoch_ms(r["properties"][MODIFIED]) for r in results]
            if len(results) == self.page_size and stamps[0] == stamps[-1]:
                return HubSpotCursor(stamps[0], 0)
            fresh = [r for r, t in zip(results, stamps, strict=True) if t != anchor or r["id"] not in seen_at_anchor]
            if results:
                last = stamps[-1]
                seen_at_anchor = ({r["id"] for r, t in zip(results, stamps, strict=True) if t == last}
                                  | (seen_at_anchor if last == anchor else set()))
                anchor = last
            if fresh:
                yield self._page(fresh, HubSpotCursor(anchor, None))
            if len(results) < self.page_size:
                return None

    def _one_instant(self, instant: int, after_id: int) -> Iterator[Page]:
        while True:
            results = self._query([{"propertyName": MODIFIED, "operator": "EQ", "value": str(instant)},
                                   {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}],
                                  "hs_object_id")
            if results:
                after_id = int(results[-1]["id"])
                yield self._page(results, HubSpotCursor(instant, after_id))
            if len(results) < self.page_size:
                return HubSpotCursor(instant + 1, None)

    def _query(self, filters: list[dict[str, str]], sort: str) -> list[dict[str, Any]]:
        body = {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": PROPERTIES, "limit": self.page_size}
        return list(self.search(body).get("results") or [])

    def _page(self, results: list[dict[str, Any]], cursor: HubSpotCursor) -> Page:
        linked = self.contacts_of([str(r["id"]) for r in results])
        meetings = [to_meeting(r, linked[str(r["id"])]) for r in results if linked.get(str(r["id"]))]
        return meetings, cursor.to_dict()


def to_meeting(result: dict[str, Any], contact_ids: list[str]) -> CrmMeeting:
    props = result.get("properties") or {}
    return CrmMeeting(id=str(result["id"]), contact_ids=tuple(contact_ids),
                      starts_at=parse_time(props.get("hs_meeting_start_time") or props.get("hs_timestamp")),
                      created_at=parse_hubspot_time(result["createdAt"]))
