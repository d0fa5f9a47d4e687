"""Incremental contact pull over HubSpot's search API, plus the contact mapping.

Why keyset paging instead of `after` offsets: search results are capped at
10,000 per query (a page past it answers 400), and offset paging over a result
set sorted by last-modified date skips a record each time an already-read
contact is modified mid-pull (everything after it shifts left). So every page
is a fresh query anchored on the last modified date seen:

* normal: `lastmodifieddate GTE anchor`, sorted ascending; records at the
  anchor instant already seen are dropped (GTE re-reads the boundary); the next
  anchor is the page's last date. No query ever pages, so the cap never bites.
* one instant fuller than a page (bulk imports stamp thousands of contacts with
  one date): `lastmodifieddate EQ t AND hs_object_id GT after_id`, sorted by id,
  then on with `GTE t + 1` (= GT t; dates are whole milliseconds).

Each yielded page's cursor is safe to store once that page is saved; resuming
re-reads at most the boundary records (upserts are idempotent). An idle
incremental pass costs one search call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.hubspot.keyset_walk import ModifiedDateWalk
from threadline.adapters.records import ContactPage, CrmContact

Search = Callable[[dict[str, Any]], dict[str, Any]]
MODIFIED = "lastmodifieddate"
CONTACT_PROPERTIES = ("email", "hs_additional_emails", "firstname", "lastname", "company", "hubspot_owner_id",
                      MODIFIED, "hs_merged_object_ids")


def parse_hubspot_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch_ms(value: str) -> int:
    return int(parse_hubspot_time(value).timestamp() * 1000)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def to_contacts(result: dict[str, Any], extras: Sequence[str]) -> list[CrmContact]:
    """One search result -> the contact, plus a `merged_into` record per id merged into it."""
    props = result.get("properties") or {}
    updated = parse_hubspot_time(props.get(MODIFIED) or result["updatedAt"])
    emails = tuple(dict.fromkeys(e for e in [props.get("email") or "", *_split(props.get("hs_additional_emails"))] if e))
    contact = CrmContact(
        id=str(result["id"]), emails=emails, first_name=props.get("firstname"), last_name=props.get("lastname"),
        company=props.get("company"), owner_id=props.get("hubspot_owner_id") or None, updated_at=updated,
        properties={name: props.get(name) for name in extras},
    )
    losers = [CrmContact(id=loser, merged_into=contact.id, updated_at=updated)
              for loser in _split(props.get("hs_merged_object_ids")) if loser != contact.id]
    return [contact, *losers]


class ContactPull:
    """One pass of `pull_contacts`: yields pages until caught up."""

    def __init__(self, search: Search, *, page_size: int = 200, extras: Sequence[str] = ()) -> None:
        self.search = search
        self.page_size = page_size
        self.extras = tuple(extras)
        self.properties = list(dict.fromkeys([*CONTACT_PROPERTIES, *self.extras]))

    def pages(self, cursor: HubSpotCursor) -> Iterator[ContactPage]:
        return ModifiedDateWalk(self.search, modified=MODIFIED, properties=list(self.properties),
                                page_size=self.page_size, make_page=self._page, epoch_ms=epoch_ms).pages(cursor)

    def _page(self, results: list[dict[str, Any]], cursor: HubSpotCursor) -> ContactPage:
        contacts = tuple(c for r in results for c in to_contacts(r, self.extras))
        return ContactPage(contacts=contacts, cursor=cursor.to_dict())
