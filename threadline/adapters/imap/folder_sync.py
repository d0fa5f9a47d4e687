"""One folder's sync: backfill, incremental or resync, as pages with a cursor each.

The decision comes from a cheap STATUS first (UIDVALIDITY, UIDNEXT,
HIGHESTMODSEQ): unchanged means nothing more is sent to the server. A page's
cursor is safe to store once its messages are processed, so a crash loses at
most one page of work and never skips mail.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import structlog

from threadline.adapters.imap.cursor import ImapFolderCursor
from threadline.adapters.imap.errors import UidValidityChanged
from threadline.adapters.imap.session import FetchedMessage, FolderStatus, ImapSession
from threadline.adapters.records import Folder, RawMessage

T = TypeVar("T")
SessionRunner = Callable[[str, Callable[[ImapSession], T]], T]  # (what, operation) -> result, with retries
log = structlog.get_logger("threadline.imap")


@dataclass(frozen=True)
class FolderPage:
    messages: tuple[RawMessage, ...]
    cursor: ImapFolderCursor
    resync_reason: str | None = None


@dataclass(frozen=True)
class FolderSync:
    """Pages of new mail in `folder` (playing `role`) since a cursor."""

    run: SessionRunner
    role: Folder
    folder: str
    backfill_since: date
    batch_size: int = 200
    label_changes: bool = False          # hand over again synced mail whose keywords changed (labels.py)

    def pages(self, cursor: ImapFolderCursor | None) -> Iterator[FolderPage]:
        """New messages since `cursor` (None: backfill window), oldest UID first.

        A UIDVALIDITY change (before or during the step) means a resync of the
        backfill window, marked with `resync_reason`. May raise TransientError
        (after retries), AuthExpired or NotFound.
        """
        latest = cursor
        try:
            for page in self._pages(cursor):
                latest = page.cursor
                yield page
        except UidValidityChanged:
            # Renumbered while we were reading it: the next STATUS shows the new value and resyncs.
            yield from self._pages(latest)

    def _pages(self, cursor: ImapFolderCursor | None) -> Iterator[FolderPage]:
        status = self.run(f"status {self.folder}", lambda s: s.status(self.folder))
        if cursor is None or cursor.folder != self.folder:
            yield from self._backfill(status, reason=None if cursor is None else
                                      f"imap folder changed ({cursor.folder} -> {self.folder})")
        elif cursor.uidvalidity != status.uidvalidity:
            reason = f"imap uidvalidity changed ({self.folder}: {cursor.uidvalidity} -> {status.uidvalidity})"
            log.info("imap.resync", folder=self.folder, reason=reason)
            yield from self._backfill(status, reason)
        else:
            start = cursor
            if status.highest_modseq != cursor.highest_modseq:
                # Flags changed (or mail arrived): first hand over again the synced mail whose keywords changed.
                relabelled = self._relabelled(cursor, status)
                start = relabelled.cursor
                if relabelled.messages or status.uidnext - 1 <= cursor.last_uid:
                    yield relabelled
            if status.uidnext - 1 > cursor.last_uid:
                uids = self.run(f"search {self.folder}",
                                lambda s: s.uids_after(self.folder, status.uidvalidity, cursor.last_uid))
                yield from self._fetch_pages(uids, status, start, None)

    def _relabelled(self, cursor: ImapFolderCursor, status: FolderStatus) -> FolderPage:
        """Messages up to the cursor whose flags changed since its HIGHESTMODSEQ and that carry a keyword (an
        opt-in/opt-out label may have been added), fetched again so their labels are decided again; the page's
        cursor holds the folder's HIGHESTMODSEQ. CONDSTORE servers only: without a modseq nothing is re-read
        (labels are then honoured as the message is first read)."""
        after = cursor.model_copy(update={"highest_modseq": status.highest_modseq})
        if not self.label_changes or cursor.highest_modseq is None or status.highest_modseq is None:
            return FolderPage((), after)
        modseq = cursor.highest_modseq
        changed = self.run(f"fetch changed flags {self.folder}", lambda s: s.flags_changed_since(
            self.folder, status.uidvalidity, modseq, cursor.last_uid))
        uids = sorted(uid for uid, flags in changed.items() if keywords(flags))
        messages: list[RawMessage] = []
        for begin in range(0, len(uids), self.batch_size):
            fetched = self.run(f"fetch {self.folder}", functools.partial(
                ImapSession.fetch_raw, folder=self.folder, uidvalidity=status.uidvalidity,
                uids=uids[begin:begin + self.batch_size]))
            messages += [self._record(m, status.uidvalidity) for m in fetched]
        return FolderPage(tuple(messages), after)

    def _backfill(self, status: FolderStatus, reason: str | None) -> Iterator[FolderPage]:
        uids = self.run(f"search {self.folder}",
                        lambda s: s.uids_since(self.folder, status.uidvalidity, self.backfill_since))
        start = ImapFolderCursor(folder=self.folder, uidvalidity=status.uidvalidity, last_uid=0)
        yield from self._fetch_pages(uids, status, start, reason)

    def _fetch_pages(self, uids: Sequence[int], status: FolderStatus, start: ImapFolderCursor,
                     reason: str | None) -> Iterator[FolderPage]:
        chunks = [list(uids[i:i + self.batch_size]) for i in range(0, len(uids), self.batch_size)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            fetched = self.run(f"fetch {self.folder}", functools.partial(
                ImapSession.fetch_raw, folder=self.folder, uidvalidity=status.uidvalidity, uids=chunk))
            yield FolderPage(tuple(self._record(m, status.uidvalidity) for m in fetched),
                             self._cursor_after(chunk, status, start, final=number == len(chunks)), reason)

    def _cursor_after(self, chunk: list[int], status: FolderStatus, start: ImapFolderCursor,
                      final: bool) -> ImapFolderCursor:
        last_uid = max([start.last_uid, *chunk])
        if not final:
            return start.model_copy(update={"last_uid": last_uid})
        # Everything below UIDNEXT (as of the STATUS) is now handled or outside the backfill window;
        # mail arriving later gets a UID >= UIDNEXT, so the next incremental sync still sees it.
        return start.model_copy(update={"last_uid": max(last_uid, status.uidnext - 1),
                                        "highest_modseq": status.highest_modseq})

    def _record(self, message: FetchedMessage, uidvalidity: int) -> RawMessage:
        return RawMessage(provider_id=f"{self.folder}/{uidvalidity}/{message.uid}", folder=self.role,
                          raw=message.raw, internal_date=message.internal_date,
                          labels=(*keywords(message.flags), self.folder))


#: Keywords mail clients set for their own bookkeeping: a change of only these never changes what is logged.
CLIENT_KEYWORDS = frozenset({"$mdnsent", "$forwarded", "$junk", "$notjunk", "junk", "nonjunk", "$phishing",
                             "$submitpending", "$submitted"})


def keywords(flags: Sequence[str]) -> tuple[str, ...]:
    """The IMAP keywords among `flags` (system flags start with a backslash), without the clients' own."""
    return tuple(f for f in flags if not f.startswith("\\") and f.lower() not in CLIENT_KEYWORDS)
