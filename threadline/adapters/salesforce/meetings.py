"""Meetings booked with contacts: Salesforce Events with a WhoId (Contact or Lead), pulled by SystemModstamp.

The cursor is one Position (SystemModstamp, Id), read in that order, so Events sharing
a timestamp are neither skipped nor repeated. Only the Event's primary WhoId is read
(invitees through EventRelation are not). An Event changed later comes again:
consumers dedupe by id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threadline.adapters.records import CrmMeeting
from threadline.adapters.salesforce.contacts import parse_sf_time, soql_datetime
from threadline.adapters.salesforce.cursor import Position

QueryPages = Callable[[str], Iterable[list[dict[str, Any]]]]
Page = tuple[list[CrmMeeting], dict[str, Any]]


def event_soql(position: Position) -> str:
    since = f" AND SystemModstamp >= {soql_datetime(position.stamp)}" if position.stamp else ""
    return ("SELECT Id, WhoId, StartDateTime, CreatedDate, SystemModstamp FROM Event "
            f"WHERE WhoId != null{since} ORDER BY SystemModstamp, Id")


def to_meeting(record: dict[str, Any]) -> CrmMeeting:
    start = record.get("StartDateTime")
    return CrmMeeting(id=record["Id"], contact_ids=(record["WhoId"],),
                      starts_at=parse_sf_time(start) if start else None,
                      created_at=parse_sf_time(record["CreatedDate"]))


def meeting_pages(query_pages: QueryPages, cursor: dict[str, Any] | None) -> Iterator[Page]:
    """Pages of Events changed after the cursor's position; each page's cursor is safe to store."""
    position = Position.from_dict(cursor)
    for records in query_pages(event_soql(position)):
        fresh = []
        for record in records:
            stamp = parse_sf_time(record["SystemModstamp"])
            if position.is_after(stamp, record["Id"]):
                fresh.append(to_meeting(record))
                position = Position(stamp, record["Id"])
        if fresh:
            yield fresh, position.to_dict()
