"""The IMAP operations mailbox sync needs, over one logged-in connection (after nylas' crispin).

Sync code calls `status`, `uids_since`, `uids_after`, `fetch_raw` and
`idle_wait`; it never speaks raw IMAP. Folders are always opened read-only
(EXAMINE) and bodies fetched with BODY.PEEK[], so syncing never marks mail \\Seen.
Every method may raise the errors of `imap_errors` (TransientError on a broken
connection: the caller drops this session and opens a new one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from imapclient import IMAPClient

from threadline.adapters.imap.connection import ConnectionFactory, Credentials
from threadline.adapters.imap.errors import UidValidityChanged, imap_errors
from threadline.adapters.imap.folders import find_sent_folder

# RFC 2177: servers may drop an idle client after 30 minutes; re-issue IDLE well before.
IDLE_REISSUE_SECONDS = 29 * 60


@dataclass(frozen=True)
class FolderStatus:
    """STATUS answer: enough to tell cheaply whether anything changed."""

    uidvalidity: int
    uidnext: int
    highest_modseq: int | None


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internal_date: datetime | None
    flags: tuple[str, ...] = ()          # system flags (\\Seen) and keywords (CRM), as the server names them


class ImapSession:
    """One logged-in connection. Not thread-safe; one per mailbox."""

    def __init__(self, client: IMAPClient, secrets: Sequence[str] = ()) -> None:
        self._client = client
        self._secrets = tuple(secrets)
        self._selected: tuple[str, int] | None = None
        # Keep INTERNALDATE timezone-aware instead of converting to naive local time.
        client.normalise_times = False

    @classmethod
    def open(cls, connect: ConnectionFactory, credentials: Credentials) -> ImapSession:
        """Connect and log in. Raises AuthExpired on refused credentials, TransientError on network trouble."""
        with imap_errors("connect", credentials.secrets()):
            client = connect()
        try:
            with imap_errors(f"login as {credentials.username}", credentials.secrets()):
                credentials.login(client)
        except BaseException:
            _shutdown(client)
            raise
        return cls(client, credentials.secrets())

    def capabilities(self) -> set[str]:
        with imap_errors("capability", self._secrets):
            return {c.decode().upper() for c in self._client.capabilities()}

    def sent_folder(self) -> str | None:
        """The Sent folder: SPECIAL-USE \\Sent, else a common name; None if there is none."""
        with imap_errors("list folders", self._secrets):
            return find_sent_folder(self._client.list_folders())

    def folder_names(self) -> list[str]:
        """Every folder's name (LIST)."""
        with imap_errors("list folders", self._secrets):
            return [str(name) for _flags, _delimiter, name in self._client.list_folders()]

    def status(self, folder: str) -> FolderStatus:
        """UIDVALIDITY, UIDNEXT and (CONDSTORE servers) HIGHESTMODSEQ of `folder`, without selecting it."""
        with imap_errors(f"status {folder}", self._secrets):
            if self._selected is not None and self._selected[0] == folder:
                # STATUS on the open folder answers from this session's (stale) view on some servers,
                # Dovecot included: close it first (it was opened read-only, so nothing is expunged).
                self._client.close_folder()
                self._selected = None
            condstore = b"CONDSTORE" in self._client.capabilities()
            items = ["UIDVALIDITY", "UIDNEXT", *(["HIGHESTMODSEQ"] if condstore else [])]
            answer = self._client.folder_status(folder, items)
        modseq = answer.get(b"HIGHESTMODSEQ")
        return FolderStatus(int(answer[b"UIDVALIDITY"]), int(answer[b"UIDNEXT"]),
                            int(modseq) if modseq is not None else None)

    def uids_since(self, folder: str, uidvalidity: int, since: date) -> list[int]:
        """UIDs of messages received on or after `since` (UID SEARCH SINCE), ascending."""
        self._examine(folder, uidvalidity)
        with imap_errors(f"search {folder}", self._secrets):
            return sorted(self._client.search(["SINCE", since]))

    def uids_after(self, folder: str, uidvalidity: int, last_uid: int) -> list[int]:
        """UIDs greater than `last_uid`, ascending."""
        self._examine(folder, uidvalidity)
        with imap_errors(f"search {folder}", self._secrets):
            found = self._client.search(["UID", f"{last_uid + 1}:*"])
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(uid for uid in found if uid > last_uid)

    def fetch_raw(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> list[FetchedMessage]:
        """Full RFC 5322 bytes and INTERNALDATE of `uids`, in UID order; expunged UIDs are skipped."""
        if not uids:
            return []
        self._examine(folder, uidvalidity)
        with imap_errors(f"fetch {folder}", self._secrets):
            answer = self._client.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
        return [FetchedMessage(uid, answer[uid][b"BODY[]"], answer[uid].get(b"INTERNALDATE"),
                               _flag_names(answer[uid].get(b"FLAGS", ())))
                for uid in sorted(answer) if b"BODY[]" in answer[uid]]

    def flags_changed_since(self, folder: str, uidvalidity: int, modseq: int, last_uid: int
                            ) -> dict[int, tuple[str, ...]]:
        """UID -> flags of the messages up to `last_uid` whose flags changed after `modseq` (CONDSTORE, RFC 7162
        SEARCH MODSEQ, then FETCH FLAGS of those): how a keyword added to mail already synced is seen without
        reading the folder again. (imapclient's fetch keeps only the UIDs it was given, so a `1:n` range with
        CHANGEDSINCE cannot be sent through it; the search names them.)"""
        if last_uid < 1:
            return {}
        self._examine(folder, uidvalidity)
        with imap_errors(f"search changed flags {folder}", self._secrets):
            uids = [u for u in self._client.search(["UID", f"1:{last_uid}", "MODSEQ", str(modseq + 1)])
                    if u <= last_uid]
            answer = self._client.fetch(sorted(uids), ["FLAGS"]) if uids else {}
        return {uid: _flag_names(data.get(b"FLAGS", ())) for uid, data in answer.items()}

    def label_names(self, folders: Sequence[str]) -> set[str]:
        """What `only_labelled`/`never_labelled` may name here: every folder, and the keywords the given folders
        know (their FLAGS and PERMANENTFLAGS answers list the keywords in use)."""
        with imap_errors("list folders", self._secrets):
            names = {str(name) for _flags, _delimiter, name in self._client.list_folders()}
        for folder in folders:
            with imap_errors(f"examine {folder}", self._secrets):
                answer = self._client.select_folder(folder, readonly=True)
            self._selected = (folder, int(answer[b"UIDVALIDITY"]))
            flags = (*answer.get(b"FLAGS", ()), *answer.get(b"PERMANENTFLAGS", ()))
            names |= {f for f in _flag_names(flags) if not f.startswith("\\")}
        return names

    def search_header(self, folder: str, name: str, value: str) -> tuple[int, list[int]]:
        """(UIDVALIDITY, UIDs) of messages in `folder` whose header `name` contains `value` (UID SEARCH HEADER)."""
        self._examine(folder, None)
        with imap_errors(f"search {folder}", self._secrets):
            found = self._client.search(["HEADER", name, value])
        assert self._selected is not None
        return self._selected[1], sorted(found)

    def append(self, folder: str, raw: bytes, flags: Sequence[bytes] = (b"\\Seen",)) -> None:
        """Store `raw` in `folder` (IMAP APPEND), e.g. a copy of mail sent over SMTP in Sent."""
        with imap_errors(f"append {folder}", self._secrets):
            self._client.append(folder, raw, flags=tuple(flags))

    def idle_wait(self, folder: str, timeout: float) -> bool:
        """Wait up to `timeout` seconds in IDLE on `folder`; True as soon as new mail (EXISTS) arrives.

        IDLE is re-issued every 29 minutes so long waits survive server idle limits.
        """
        self._examine(folder, None)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self._idle_once(min(left, IDLE_REISSUE_SECONDS)):
                return True
        return False

    def logout(self) -> None:
        """Say goodbye politely; never raises (the connection may already be gone)."""
        try:
            self._client.logout()
        except Exception:
            _shutdown(self._client)

    def _idle_once(self, seconds: float) -> bool:
        with imap_errors("idle", self._secrets):
            self._client.idle()
            try:
                responses = self._client.idle_check(timeout=seconds)
            finally:
                # mail that lands as the wait times out is announced in the answer to DONE
                _, late = self._client.idle_done()
        return any(len(r) > 1 and r[1] == b"EXISTS" for r in [*responses, *late])

    def _examine(self, folder: str, uidvalidity: int | None) -> None:
        """Open `folder` read-only unless it already is; check it still has `uidvalidity`."""
        if self._selected is not None and self._selected[0] == folder and uidvalidity in (None, self._selected[1]):
            return
        # Not open, another folder, or a UIDVALIDITY we have not seen here yet: (re)open and look again.
        with imap_errors(f"examine {folder}", self._secrets):
            answer = self._client.select_folder(folder, readonly=True)
        self._selected = (folder, int(answer[b"UIDVALIDITY"]))
        if uidvalidity is not None and self._selected[1] != uidvalidity:
            raise UidValidityChanged(f"imap {folder}: uidvalidity is {self._selected[1]}, expected {uidvalidity}",
                                     provider="imap")


def _flag_names(flags: Sequence[bytes | str]) -> tuple[str, ...]:
    return tuple(f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in flags)


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass
