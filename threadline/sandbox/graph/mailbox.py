"""A user's Exchange mailbox: folders, messages and a per-folder change log for delta queries.

Every change (a message arriving in, leaving, or changing inside a folder) appends
`(seq, message id)` to that folder's log. A delta round covers the changes with
`since < seq <= upto`; a message appears once per round, in the state it is in now.
"""

from __future__ import annotations

import base64
import secrets
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from threadline.sandbox.graph.errors import conflict, not_found
from threadline.sandbox.graph.mime import Envelope

#: The master category list a new Exchange Online mailbox starts with.
DEFAULT_CATEGORIES = (("Red Category", "preset0"), ("Orange Category", "preset1"), ("Yellow Category", "preset3"),
                      ("Green Category", "preset4"), ("Blue Category", "preset7"), ("Purple Category", "preset9"))
WELL_KNOWN_FOLDERS = {"inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts",
                      "deleteditems": "Deleted Items", "archive": "Archive"}


def new_id(prefix: str = "AAMkAD") -> str:
    """A Graph-looking item id (URL-safe base64 of random bytes)."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(45)).decode().rstrip("=")


@dataclass
class StoredMessage:
    id: str
    folder: str                               # well-known folder name
    raw: bytes
    envelope: Envelope
    received: datetime
    created: datetime
    conversation_id: str
    is_read: bool = False
    categories: list[str] = field(default_factory=list)     # displayNames from the master list
    change_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FolderLog:
    seqs: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    by_message: dict[str, list[int]] = field(default_factory=dict)

    def append(self, seq: int, message_id: str) -> None:
        self.seqs.append(seq)
        self.ids.append(message_id)
        self.by_message.setdefault(message_id, []).append(seq)

    def last_in_round(self, index: int, upto: int) -> bool:
        """True if the change at `index` is its message's last change with seq <= upto."""
        changes = self.by_message[self.ids[index]]
        later = bisect_right(changes, self.seqs[index])
        return later == len(changes) or changes[later] > upto


class Mailbox:
    """One user's messages. Thread-safe through `lock`."""

    def __init__(self, user_id: str, address: str) -> None:
        self.user_id, self.address = user_id, address
        self.lock = threading.RLock()
        self.messages: dict[str, StoredMessage] = {}
        self.logs: dict[str, FolderLog] = {name: FolderLog() for name in WELL_KNOWN_FOLDERS}
        self.seq = 0
        self.epoch = 1                            # bumped by expire_delta(): older delta tokens answer 410
        self.folder_ids = {name: new_id("AQMkAD") for name in WELL_KNOWN_FOLDERS}
        self.master_categories: list[dict[str, str]] = [
            {"id": str(uuid.uuid4()), "displayName": name, "color": color} for name, color in DEFAULT_CATEGORIES]
        self._by_internet_id: dict[str, str] = {}

    def folder(self, id_or_name: str) -> str:
        """The well-known name of a folder given by name or id; raises 404 otherwise."""
        key = id_or_name.strip("'").lower()
        if key in self.logs:
            return key
        for name, folder_id in self.folder_ids.items():
            if folder_id == id_or_name.strip("'"):
                return name
        raise not_found("The specified folder could not be found in the store.")

    def add(self, raw: bytes, env: Envelope, folder: str, received: datetime) -> StoredMessage:
        with self.lock:
            conversation = self._conversation_of(env)
            msg = StoredMessage(new_id(), folder, raw, env, received, datetime.now(UTC), conversation,
                                is_read=folder != "inbox")
            self.messages[msg.id] = msg
            if env.internet_message_id:
                self._by_internet_id.setdefault(env.internet_message_id, msg.id)
            self._log(folder, msg.id)
            return msg

    def get(self, message_id: str) -> StoredMessage:
        with self.lock:
            msg = self.messages.get(message_id)
        if msg is None:
            raise not_found()
        return msg

    def delete(self, message_id: str) -> None:
        with self.lock:
            msg = self.get(message_id)
            del self.messages[message_id]
            self._log(msg.folder, message_id)

    def move(self, message_id: str, folder: str) -> None:
        with self.lock:
            msg = self.get(message_id)
            self._log(msg.folder, message_id)
            msg.folder = folder
            self._log(folder, message_id)

    def set_categories(self, message_id: str, categories: list[str]) -> StoredMessage:
        """PATCH categories: a change like any other, so the message comes again in the folder's next delta round.
        Outlook keeps a name that is not in the master list too (it shows uncoloured), so none is refused."""
        with self.lock:
            msg = self.get(message_id)
            msg.categories = list(dict.fromkeys(categories))
            msg.modified, msg.change_key = datetime.now(UTC), secrets.token_urlsafe(12)
            self._log(msg.folder, message_id)
            return msg

    def add_category(self, display_name: str, color: str = "preset0") -> dict[str, str]:
        """A master list entry; displayName must be unique in the list (case-insensitively)."""
        with self.lock:
            if any(c["displayName"].casefold() == display_name.casefold() for c in self.master_categories):
                raise conflict(f"A category with the name '{display_name}' already exists.")
            category = {"id": str(uuid.uuid4()), "displayName": display_name, "color": color}
            self.master_categories.append(category)
            return dict(category)

    def mark_read(self, message_id: str, read: bool = True) -> None:
        with self.lock:
            msg = self.get(message_id)
            msg.is_read, msg.modified, msg.change_key = read, datetime.now(UTC), secrets.token_urlsafe(12)
            self._log(msg.folder, message_id)

    def round_page(self, folder: str, since: int, upto: int, after: int, size: int,
                   keep: Callable[[StoredMessage], bool]) -> tuple[list[tuple[str, StoredMessage | None]], int, bool]:
        """Up to `size` (id, message or None if gone from the folder) after change `after`, and where it stopped.

        Returns (items, last seq walked, more left in the round). Messages failing `keep`
        are skipped; so are departures during an initial round (`since == 0`).
        """
        with self.lock:
            log = self.logs[folder]
            index, end = bisect_right(log.seqs, max(since, after)), bisect_right(log.seqs, upto)
            items: list[tuple[str, StoredMessage | None]] = []
            last = max(since, after)
            while index < end and len(items) < size:
                message_id, last = log.ids[index], log.seqs[index]
                if log.last_in_round(index, upto):
                    msg = self.messages.get(message_id)
                    present = msg is not None and msg.folder == folder
                    if present and msg is not None and keep(msg):
                        items.append((message_id, msg))
                    elif not present and since > 0:
                        items.append((message_id, None))
                index += 1
            return items, last, index < end

    def snapshot(self, folder: str | None = None) -> list[StoredMessage]:
        with self.lock:
            found = [m for m in self.messages.values() if folder is None or m.folder == folder]
        return sorted(found, key=lambda m: (m.received, m.id))

    def _log(self, folder: str, message_id: str) -> None:
        self.seq += 1
        self.logs[folder].append(self.seq, message_id)

    def _conversation_of(self, env: Envelope) -> str:
        for ref in env.references:
            found = self.messages.get(self._by_internet_id.get(ref, ""))
            if found is not None:
                return found.conversation_id
        return new_id("AAQkAD")


class Mailboxes:
    """Every user's mailbox, keyed by directory object id, created on first use; except the users marked
    `without_mailbox` (in the directory, no Exchange Online mailbox)."""

    def __init__(self) -> None:
        self._boxes: dict[str, Mailbox] = {}
        self._without: set[str] = set()
        self._lock = threading.Lock()

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        """Give the user an Exchange Online mailbox (a licence), or take it away (its mail is kept)."""
        with self._lock:
            (self._without.discard if enabled else self._without.add)(user_id)

    def enabled(self, user_id: str) -> bool:
        with self._lock:
            return user_id not in self._without

    def of(self, user_id: str, address: str) -> Mailbox:
        with self._lock:
            if user_id not in self._boxes:
                self._boxes[user_id] = Mailbox(user_id, address)
            return self._boxes[user_id]

    def all(self) -> list[Mailbox]:
        with self._lock:
            return list(self._boxes.values())

    def clear(self) -> None:
        with self._lock:
            self._boxes.clear()
            self._without.clear()
