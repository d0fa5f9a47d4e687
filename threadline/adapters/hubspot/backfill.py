"""The first contact pull: two walks over the id space at once, meeting in the middle.

HubSpot limits search to about 5 requests a second but lets a private app make 190 requests in
any 10 seconds. A backfill through search alone leaves most of that window unused, so the first
pull runs two walks side by side, each on its own thread:

* the list walk, `GET /crm/v3/objects/contacts` (100 a page), ascending by id from the start;
* the search walk, `POST .../contacts/search` sorted by `hs_object_id` descending (200 a page), each
  page a fresh `hs_object_id LT <lowest id seen>` query, so it never pages and never meets the
  10,000-result cap.

Each walk drops the ids the other has already read and stops once it has crossed them, so the two
cover every id once (at most one page each is read twice). Search calls go through both limiters:
HubSpot does not say whether they count in the ten-second window, and assuming they do keeps every
call inside both limits either way.

Before the walks start, one search asks for the most recently modified contact: its date, less the
search index lag, is where the incremental pull starts once the walks are done, so whatever changes
while the backfill runs is read again by the incremental pull and nothing is missed. Every page's
cursor holds both walks' progress and is safe to store once the page is saved: a backfill stopped
at any point resumes from both ends where it left off.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from threadline.adapters.hubspot.contacts import MODIFIED, epoch_ms, to_contacts
from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.records import ContactPage

Call = Callable[[dict[str, Any]], dict[str, Any]]
LIST_PAGE = 100          # HubSpot's largest list page
SEARCH_PAGE = 200        # HubSpot's largest search page
QUEUE_PAGES = 8          # pages read ahead of the consumer, at most (bounds memory)
PUT_SLICE = 0.5          # seconds a walk waits for room in the queue before it looks at `stop` again


@dataclass(frozen=True)
class BackfillState:
    """Where both walks stand, as far as the consumer has saved.

    `low`: every live id <= low has been read by the list walk, which resumes with `list_after`
    (HubSpot's paging token; None before its first page). `high`: every id >= high has been read by
    the search walk (None before its first page). `anchor`: epoch ms the incremental pull starts from.
    """

    anchor: int
    low: int = 0
    list_after: str | None = None
    list_done: bool = False
    high: int | None = None
    search_done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"backfill": {"anchor": self.anchor, "low": self.low, "list_after": self.list_after,
                             "list_done": self.list_done, "high": self.high, "search_done": self.search_done}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackfillState:
        raw = data["backfill"]
        high = raw.get("high")
        return cls(anchor=int(raw["anchor"]), low=int(raw.get("low") or 0), list_after=raw.get("list_after"),
                   list_done=bool(raw.get("list_done")), high=None if high is None else int(high),
                   search_done=bool(raw.get("search_done")))


def is_backfill(cursor: dict[str, Any] | None) -> bool:
    """A missing cursor starts a backfill; a stored backfill cursor resumes one."""
    return not cursor or "backfill" in cursor


@dataclass
class _Step:
    """One page a walk read, with the walk's position after it."""

    side: str                       # "list" or "search"
    results: list[dict[str, Any]]
    bound: int                      # list: highest id read; search: lowest id read
    token: str | None = None        # list: the paging token to resume with
    done: bool = False


class _Meeting:
    """The two walks' positions as read (not yet saved), under one lock: each keeps only the ids the other
    has not read. A position moves only past ids its walk kept, so the saved one never claims an id that
    the other walk dropped and has not saved yet."""

    def __init__(self, state: BackfillState) -> None:
        self.lock = threading.Lock()
        self.low = state.low
        self.high = state.high


class ContactBackfill:
    """Yields the pages of one backfill (or the rest of a stopped one), then the incremental cursor."""

    def __init__(self, *, list_page: Call, search: Call, properties: Sequence[str], extras: Sequence[str],
                 lag_ms: int) -> None:
        self.list_page = list_page
        self.search = search
        self.properties = list(properties)
        self.extras = tuple(extras)
        self.lag_ms = lag_ms

    def pages(self, cursor: dict[str, Any] | None) -> Iterator[ContactPage]:
        state = BackfillState.from_dict(cursor) if cursor else BackfillState(anchor=self._anchor())
        meeting = _Meeting(state)
        steps: queue.Queue[_Step | BaseException | None] = queue.Queue(maxsize=QUEUE_PAGES)
        stop = threading.Event()
        walks = [walk for walk, done in ((self._list_walk, state.list_done), (self._search_walk, state.search_done))
                 if not done]
        # Each walk runs in a copy of this context, so a fence set around the pull holds on its thread too.
        threads = [threading.Thread(target=contextvars.copy_context().run, daemon=True,
                                    args=(self._run, walk, state, meeting, steps, stop),
                                    name=f"hubspot-backfill-{walk.__name__.strip('_')}") for walk in walks]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                step = steps.get()
                if step is None:
                    running -= 1
                    continue
                if isinstance(step, BaseException):
                    raise step
                state = _advance(state, step)
                contacts = tuple(c for r in step.results for c in to_contacts(r, self.extras))
                if contacts or step.done:
                    yield ContactPage(contacts=contacts, cursor=state.to_dict())
            yield ContactPage(contacts=(), cursor=HubSpotCursor(state.anchor, None).to_dict())
        finally:
            stop.set()
            for thread in threads:
                while thread.is_alive():
                    _drain(steps)
                    thread.join(timeout=0.1)

    # the walks -------------------------------------------------------------------

    def _run(self, walk: Callable[[BackfillState, _Meeting], Iterator[_Step]], state: BackfillState,
             meeting: _Meeting, steps: queue.Queue[_Step | BaseException | None], stop: threading.Event) -> None:
        try:
            for step in walk(state, meeting):
                if not _put(steps, step, stop):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            _put(steps, exc, stop)
            return
        _put(steps, None, stop)

    def _list_walk(self, state: BackfillState, meeting: _Meeting) -> Iterator[_Step]:
        after = state.list_after
        while True:
            params: dict[str, Any] = {"limit": LIST_PAGE, "properties": ",".join(self.properties)}
            if after:
                params["after"] = after
            answer = self.list_page(params)
            results = list(answer.get("results") or [])
            after = ((answer.get("paging") or {}).get("next") or {}).get("after")
            with meeting.lock:
                # Ids come in ascending order, so what is kept is a prefix: every id up to the last kept one.
                fresh = [r for r in results if meeting.high is None or int(r["id"]) < meeting.high]
                done = not after or len(fresh) < len(results)
                bound = max((int(r["id"]) for r in fresh), default=meeting.low)
                meeting.low = max(meeting.low, bound)
            yield _Step("list", fresh, bound, None if done else after, done)
            if done:
                return

    def _search_walk(self, state: BackfillState, meeting: _Meeting) -> Iterator[_Step]:
        high = state.high
        while True:
            filters = [] if high is None else [{"propertyName": "hs_object_id", "operator": "LT", "value": str(high)}]
            body = {"filterGroups": [{"filters": filters}] if filters else [],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
                    "properties": self.properties, "limit": SEARCH_PAGE}
            results = list(self.search(body).get("results") or [])
            with meeting.lock:
                fresh = [r for r in results if int(r["id"]) > meeting.low]
                done = len(results) < SEARCH_PAGE or len(fresh) < len(results)
                if fresh:
                    high = int(fresh[-1]["id"])
                    meeting.high = high if meeting.high is None else min(meeting.high, high)
            yield _Step("search", fresh, high if high is not None else meeting.low + 1, None, done)
            if done:
                return

    def _anchor(self) -> int:
        """Epoch ms the incremental pull will start from: the newest modification search knows, less its lag."""
        answer = self.search({"filterGroups": [], "sorts": [{"propertyName": MODIFIED, "direction": "DESCENDING"}],
                              "properties": [MODIFIED], "limit": 1})
        results = answer.get("results") or []
        if not results:
            return 0
        props = results[0].get("properties") or {}
        return max(0, epoch_ms(props.get(MODIFIED) or results[0]["updatedAt"]) - self.lag_ms)


def _advance(state: BackfillState, step: _Step) -> BackfillState:
    """The saved state once `step`'s page is saved."""
    if step.side == "list":
        return replace(state, low=max(state.low, step.bound), list_after=step.token, list_done=step.done)
    high = step.bound if state.high is None else min(state.high, step.bound)
    return replace(state, high=high, search_done=step.done)


def _put(steps: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Hand `item` to the consumer; False once the consumer has gone (the generator was closed)."""
    while not stop.is_set():
        try:
            steps.put(item, timeout=PUT_SLICE)
            return True
        except queue.Full:
            continue
    return False


def _drain(steps: queue.Queue[Any]) -> None:
    while True:
        try:
            steps.get_nowait()
        except queue.Empty:
            return
