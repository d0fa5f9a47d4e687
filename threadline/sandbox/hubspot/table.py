"""All objects of one type with the indexes that keep search and listing fast.

`by_modified` is a sorted list of (last-modified ms, id) for live objects, so a
search filtered and sorted on the modified date is two bisections plus a slice:
O(log n + page) even at 100,000 contacts. `ids` is ascending (ids only grow),
so list paging is a bisection too. Not thread-safe on its own: the caller holds
the sandbox lock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

from threadline.sandbox.hubspot.records import HubObject

ID_MAX = 1 << 62


class ObjectTable:
    """Objects of one type: by id, by (modified, id), and contacts by primary email."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.objects: dict[int, HubObject] = {}
        self.ids: list[int] = []
        self.by_modified: list[tuple[int, int]] = []
        self.by_email: dict[str, int] = {}
        self.retired_ids: list[int] = []        # ascending: ids in `ids` that are archived or merged away

    def __len__(self) -> int:
        return len(self.by_modified)

    def add(self, obj: HubObject) -> None:
        self.objects[obj.id] = obj
        self.ids.append(obj.id)
        insort(self.by_modified, (obj.updated_ms, obj.id))
        self._index_email(obj, None)

    def add_many(self, objs: Iterable[HubObject]) -> None:
        """Bulk insert (seeding): one sort instead of n insertions."""
        for obj in objs:
            self.objects[obj.id] = obj
            self.ids.append(obj.id)
            self.by_modified.append((obj.updated_ms, obj.id))
            self._index_email(obj, None)
        self.by_modified.sort()

    def live(self, object_id: int) -> HubObject | None:
        obj = self.objects.get(object_id)
        return obj if obj is not None and not obj.archived and obj.merged_into is None else None

    def set_properties(self, obj: HubObject, values: dict[str, str | None], updated_ms: int) -> None:
        """Write values (None or "" clears) and move the object in the modified index."""
        old_email = obj.properties.get("email")
        for name, value in values.items():
            if value is None or value == "":
                obj.properties.pop(name, None)
            else:
                obj.properties[name] = value
        self._remove_key(obj)
        obj.updated_ms = updated_ms
        insort(self.by_modified, (obj.updated_ms, obj.id))
        self._index_email(obj, old_email)

    def retire(self, obj: HubObject) -> None:
        """Take an object out of the live indexes (archived or merged away)."""
        self._remove_key(obj)
        if not _contains(self.retired_ids, obj.id):
            insort(self.retired_ids, obj.id)
        email = obj.properties.get("email")
        if email and self.by_email.get(email.lower()) == obj.id:
            del self.by_email[email.lower()]

    def modified_slice(self, low: tuple[int, int], high: tuple[int, int]) -> tuple[int, int]:
        """Index positions [i, j) of live objects with low <= (modified, id) <= high."""
        return bisect_left(self.by_modified, low), bisect_right(self.by_modified, high)

    def at(self, position: int) -> HubObject:
        return self.objects[self.by_modified[position][1]]

    def live_objects(self) -> Iterator[HubObject]:
        for _, object_id in self.by_modified:
            yield self.objects[object_id]

    def ids_from(self, after: int) -> Iterator[int]:
        """Ids >= after in ascending order (list paging)."""
        for position in range(bisect_left(self.ids, after), len(self.ids)):
            yield self.ids[position]

    def id_range(self, low: int, high: int, *, descending: bool) -> tuple[int, Iterator[HubObject]]:
        """(live objects with low <= id <= high, those objects in id order): the id index, for a search
        filtered and sorted on `hs_object_id` only. O(log n) to start, then one step per object read."""
        start, stop = bisect_left(self.ids, low), bisect_right(self.ids, high)
        retired = bisect_right(self.retired_ids, high) - bisect_left(self.retired_ids, low)
        positions = range(stop - 1, start - 1, -1) if descending else range(start, stop)
        live = (self.objects[self.ids[p]] for p in positions if self.live(self.ids[p]) is not None)
        return stop - start - retired, live

    def _remove_key(self, obj: HubObject) -> None:
        key = (obj.updated_ms, obj.id)
        position = bisect_left(self.by_modified, key)
        if position < len(self.by_modified) and self.by_modified[position] == key:
            del self.by_modified[position]

    def _index_email(self, obj: HubObject, old_email: str | None) -> None:
        if self.object_type != "contacts":
            return
        if old_email and self.by_email.get(old_email.lower()) == obj.id:
            del self.by_email[old_email.lower()]
        email = obj.properties.get("email")
        if email:
            self.by_email[email.lower()] = obj.id


def _contains(ordered: list[int], value: int) -> bool:
    position = bisect_left(ordered, value)
    return position < len(ordered) and ordered[position] == value
