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
from threadline.adapters.hubspot.keyset_walk import ModifiedDateWalk
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
        self.properties = PROPERTIES

    def pages(self, cursor: HubSpotCursor) -> Iterator[Page]:
        return ModifiedDateWalk(self.search, modified=MODIFIED, properties=list(self.properties),
                                page_size=self.page_size, make_page=self._page, epoch_ms=epoch_ms).pages(cursor)

    def _page(self, results: list[dict[str, Any]], cursor: HubSpotCursor) -> Page:
        linked = self.contacts_of([str(r["id"]) for r in results])
        meetings = [to_meeting(r, linked[str(r["id"])]) for r in results if linked.get(str(r["id"]))]
        return meetings, cursor.to_dict()


def to_meeting(result: dict[str, Any], contact_ids: list[str]) -> CrmMeeting:
    props = result.get("properties") or {}
    return CrmMeeting(id=str(result["id"]), contact_ids=tuple(contact_ids),
                      starts_at=parse_time(props.get("hs_meeting_start_time") or props.get("hs_timestamp")),
                      created_at=parse_hubspot_time(result["createdAt"]))
