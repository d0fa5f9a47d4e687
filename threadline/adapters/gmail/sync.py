"""Full and incremental Gmail sync as generators of MailPages (Gmail guide "Synchronize clients").

Full sync captures the mailbox's current history id *first*, lists the backfill
window, batch-gets raw messages, and only then hands over to incremental sync
from the captured id, so nothing that arrives during a long backfill is missed.
Every page's cursor is safe to store once that page is processed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from googleapiclient.http import HttpRequest

from threadline.adapters.errors import CursorExpired, NotFound
from threadline.adapters.gmail.client import GmailClient
from threadline.adapters.gmail.cursor import Backfill, GmailCursor
from threadline.adapters.gmail.labels import LabelNames, matters
from threadline.adapters.gmail.messages import folder_of, raw_message
from threadline.adapters.records import MailPage

LIST_PAGE_SIZE = 500                        # Gmail's maximum for messages.list and history.list
BACKFILL_QUERY = "after:{after} {{in:inbox in:sent}}"
#: New mail, and label changes (opt-in/opt-out labels added after a message was synced: see labels.py).
HISTORY_TYPES = ["messageAdded", "labelAdded", "labelRemoved"]
RESYNC_REASON = "gmail history id expired"


class MailboxSync:
    """The sync state machine for one mailbox; each step is safe to re-run from its cursor."""

    def __init__(self, client: GmailClient, *, backfill_days: int, batch_size: int,
                 clock: Callable[[], float] = time.time, label_changes: bool = False) -> None:
        """`label_changes`: opt-in/opt-out labels are configured: messages carry their label names, and those
        whose labels changed are handed over again."""
        self.client = client
        self.label_changes = label_changes
        self.backfill_days = backfill_days
        self.batch_size = batch_size
        self.clock = clock
        self.labels = LabelNames(lambda: client.execute("labels.list", lambda u: u.labels().list(userId="me")))

    def pull(self, cursor: GmailCursor | None) -> Iterator[MailPage]:
        self.labels.reset()
        if cursor is None:
            yield from self.full_sync(reason=None)
        elif cursor.backfill is not None:
            yield from self._backfill_then_catch_up(cursor)
        else:
            yield from self._incremental_or_resync(cursor)

    def full_sync(self, reason: str | None) -> Iterator[MailPage]:
        profile = self.client.execute("getProfile", lambda u: u.getProfile(userId="me"))
        after = int(self.clock() - self.backfill_days * 86400)
        start = GmailCursor(history_id=str(profile["historyId"]), backfill=Backfill(after=after, reason=reason))
        yield from self._backfill_then_catch_up(start, resyncing=reason is not None)

    def _backfill_then_catch_up(self, cursor: GmailCursor, resyncing: bool = False) -> Iterator[MailPage]:
        yield from self._backfill(cursor)
        caught_up = GmailCursor(history_id=cursor.history_id)
        if resyncing:
            yield from self.incremental(caught_up)   # a second expiry right after a resync is the engine's problem
        else:
            yield from self._incremental_or_resync(caught_up)

    def _incremental_or_resync(self, cursor: GmailCursor) -> Iterator[MailPage]:
        try:
            yield from self.incremental(cursor)
        except CursorExpired:
            yield from self.full_sync(reason=RESYNC_REASON)

    def _backfill(self, cursor: GmailCursor) -> Iterator[MailPage]:
        state = cursor.backfill
        assert state is not None
        token, skip = state.page_token, state.done_in_page
        while True:
            listing = self.client.execute("messages.list", _backfill_listing(state.after, token))
            ids = [m["id"] for m in listing.get("messages", [])]
            next_token = listing.get("nextPageToken")
            for begin in range(skip, len(ids), self.batch_size):
                done = min(begin + self.batch_size, len(ids))
                if done < len(ids):
                    after = cursor.model_copy(update={"backfill": state.model_copy(
                        update={"page_token": token, "done_in_page": done})})
                elif next_token:
                    after = cursor.model_copy(update={"backfill": state.model_copy(
                        update={"page_token": next_token, "done_in_page": 0})})
                else:
                    after = GmailCursor(history_id=cursor.history_id)
                yield MailPage(messages=self._fetch(ids[begin:done]), cursor=after.dump(), resync_reason=state.reason)
            if not next_token:
                if skip >= len(ids):             # nothing left on the last page: still mark the backfill done
                    yield MailPage(messages=(), cursor=GmailCursor(history_id=cursor.history_id).dump(),
                                   resync_reason=state.reason)
                return
            token, skip = next_token, 0

    def incremental(self, cursor: GmailCursor) -> Iterator[MailPage]:
        """Pages of messages added, or relabelled, since the cursor. Raises CursorExpired when Gmail forgot the id."""
        current, token = cursor.history_id, None
        while True:
            response = self._history_page(current, token)
            records = response.get("history", [])
            token = response.get("nextPageToken")
            # Mid-listing, only the records seen so far are covered; at the end, the mailbox's id.
            page_end = str(records[-1]["id"] if token else response["historyId"])
            ids = _added_ids(records)
            for begin in range(0, len(ids), self.batch_size):
                last = begin + self.batch_size >= len(ids)
                yield MailPage(messages=self._fetch(ids[begin:begin + self.batch_size]),
                               cursor=GmailCursor(history_id=page_end if last else current).dump())
            if not ids and page_end != current:
                yield MailPage(messages=(), cursor=GmailCursor(history_id=page_end).dump())
            current = page_end
            if not token:
                return

    def _history_page(self, start: str, token: str | None) -> dict[str, Any]:
        try:
            return self.client.execute("history.list", lambda u: u.history().list(
                userId="me", startHistoryId=start,
                historyTypes=HISTORY_TYPES if self.label_changes else HISTORY_TYPES[:1], maxResults=LIST_PAGE_SIZE,
                pageToken=token))
        except NotFound as exc:
            raise CursorExpired("gmail no longer has history after this id", provider="gmail", status=404) from exc

    def _fetch(self, ids: list[str]) -> tuple[Any, ...]:
        fetched = self.client.get_raw(ids)
        names = self.labels.names if self.label_changes else None      # label names cost a labels.list
        found = (raw_message(fetched[i], names) for i in ids if i in fetched)
        return tuple(m for m in found if m is not None)


def _added_ids(records: list[dict[str, Any]]) -> list[str]:
    """Ids of INBOX/SENT messages added, or whose labels changed in a way that matters (labels.matters), in
    history order, once each: a relabelled message is handed over again for its labels to be decided again."""
    ids: dict[str, None] = {}
    for record in records:
        changes = [*record.get("messagesAdded", []),
                   *(c for kind in ("labelsAdded", "labelsRemoved") for c in record.get(kind, [])
                     if matters(c.get("labelIds", ())))]
        for change in changes:
            message = change.get("message", {})
            if folder_of(message.get("labelIds", ())) is not None:
                ids.setdefault(str(message["id"]), None)
    return list(ids)


def _backfill_listing(after: int, token: str | None) -> Callable[[Any], HttpRequest]:
    """The messages.list request for one backfill page (the window start stays the same on resume)."""
    return lambda users: users.messages().list(userId="me", q=BACKFILL_QUERY.format(after=after),
                                               maxResults=LIST_PAGE_SIZE, pageToken=token)
