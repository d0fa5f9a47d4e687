"""Delta sync per folder as generators of MailPages ("Get incremental changes to messages in a folder").

A round follows `@odata.nextLink` pages to the final `@odata.deltaLink`. The first
round is limited to the backfill window by `$filter=receivedDateTime ge ...` (the one
filter delta on messages supports); Graph encodes it into the links, so later rounds
keep it. After each page the cursor holds that page's nextLink (resumable after a
crash) or, at the end, the deltaLink. A 410 restarts that folder without a token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from threadline.adapters.errors import CursorExpired
from threadline.adapters.outlook.client import GraphClient
from threadline.adapters.outlook.cursor import FolderCursor, GraphCursor
from threadline.adapters.records import Folder, MailPage, RawMessage

#: Graph's well-known folder names for the folders Threadline reads.
GRAPH_FOLDERS: dict[Folder, str] = {"inbox": "inbox", "sent": "sentitems"}
# `categories`: the opt-in/opt-out labels. A category set later changes the message, so it comes again in the
# folder's next delta round and its labels are decided again (sync/mailboxes/labels.py).
SELECT = "id,conversationId,receivedDateTime,internetMessageId,categories"
RESYNC_REASON = "graph delta token expired (410 SyncStateNotFound)"


class MailboxSync:
    """The delta state machine for one mailbox; each step is safe to re-run from its cursor."""

    def __init__(self, client: GraphClient, user: str, *, page_size: int, backfill_days: int, batch_size: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.user = client, user
        self.page_size, self.backfill_days, self.batch_size = page_size, backfill_days, batch_size
        self.clock = clock

    def pull(self, cursor: GraphCursor) -> Iterator[MailPage]:
        """Inbox then Sent Items; every page's cursor carries both folders' positions."""
        state = cursor
        for folder in GRAPH_FOLDERS:
            start = state
            for page, after in self._folder(start, folder):
                state = after
                yield page

    def _folder(self, state: GraphCursor, folder: Folder) -> Iterator[tuple[MailPage, GraphCursor]]:
        try:
            yield from self._round(state, folder, state.of(folder))
        except CursorExpired:
            # The folder's sync state is gone: a full resync of that folder (the engine dedupes).
            yield from self._round(state, folder, FolderCursor(resync_reason=RESYNC_REASON))

    def _round(self, state: GraphCursor, folder: Folder,
               position: FolderCursor) -> Iterator[tuple[MailPage, GraphCursor]]:
        url, params = self._start(folder, position)
        while True:
            body = self.client.get(url, params=params, headers={"Prefer": f"odata.maxpagesize={self.page_size}"})
            next_link = body.get("@odata.nextLink")
            # Every delta page ends in a nextLink or the deltaLink: neither must not read as "no cursor".
            delta_link = None if next_link else body["@odata.deltaLink"]
            messages = self._messages(folder, body.get("value", []))
            after = FolderCursor(delta_link=delta_link if not next_link else position.delta_link,
                                 next_link=next_link, resync_reason=position.resync_reason if next_link else None)
            if messages or after != position:
                state = state.with_folder(folder, after)
                yield MailPage(messages=messages, cursor=state.dump(), resync_reason=position.resync_reason), state
            if not next_link:
                return
            url, params, position = next_link, None, after

    def _start(self, folder: Folder, position: FolderCursor) -> tuple[str, dict[str, str] | None]:
        if position.next_link:
            return position.next_link, None
        if position.delta_link:
            return position.delta_link, None
        since = datetime.fromtimestamp(self.clock() - self.backfill_days * 86400, UTC)
        url = f"/users/{quote(self.user)}/mailFolders/{GRAPH_FOLDERS[folder]}/messages/delta"
        return url, {"$select": SELECT, "$filter": f"receivedDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}"}

    def _messages(self, folder: Folder, items: list[dict[str, Any]]) -> tuple[RawMessage, ...]:
        present = [item for item in items if "@removed" not in item and item.get("id")]
        mime = self.client.fetch_mime(self.user, [str(item["id"]) for item in present], self.batch_size)
        return tuple(_raw_message(folder, item, mime[item["id"]]) for item in present if item["id"] in mime)


def _raw_message(folder: Folder, item: dict[str, Any], raw: bytes) -> RawMessage:
    received = item.get("receivedDateTime")
    return RawMessage(provider_id=str(item["id"]), folder=folder, raw=raw, thread_id=item.get("conversationId"),
                      internal_date=datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None,
                      labels=tuple(str(c) for c in item.get("categories") or ()))
