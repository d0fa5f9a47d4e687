"""One user's simulated Gmail mailbox: messages, threads, labels and the history log.

Every change (message added or deleted, label added or removed) takes the next
history id from a per-mailbox counter and appends a history record, as Gmail does.
All methods are thread-safe (one lock per mailbox).
"""

from __future__ import annotations

import itertools
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from threadline.sandbox.gmail import mime
from threadline.sandbox.gmail.conversations import Envelope, envelope, thread_of
from threadline.sandbox.gmail.errors import conflict, invalid, not_found

SYSTEM_LABELS = ("INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "CHAT",
                 "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
                 "CATEGORY_FORUMS")
FIRST_HISTORY_ID = 1000
_ids = itertools.count(1)


def new_message_id() -> str:
    """A 16-hex-digit id in the style of Gmail's, unique across the whole sandbox process."""
    return f"{0x18f0000000000000 + next(_ids):016x}"


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    labels: set[str]
    raw: bytes
    internal_date: int                      # ms since the epoch
    history_id: int
    envelope: Envelope
    _snippet: str | None = field(default=None, repr=False)

    def parsed(self) -> Message:
        # Not cached: 20,000 parsed messages would cost far more memory than re-parsing.
        return mime.parse(self.raw)

    def snippet(self) -> str:
        if self._snippet is None:
            self._snippet = mime.snippet(self.parsed())
        return self._snippet

    def header(self, name: str) -> str:
        return str(self.parsed().get(name, ""))

    def text_for_search(self) -> str:
        return f"{self.envelope.subject} {self.snippet()}"


@dataclass(frozen=True)
class HistoryRecord:
    id: int
    kind: str                               # messageAdded | messageDeleted | labelAdded | labelRemoved
    message_id: str
    thread_id: str
    message_labels: tuple[str, ...]         # the message's labels right after the change
    changed_labels: tuple[str, ...] = ()


class HistoryExpired(Exception):
    """The start history id is older than what the mailbox still keeps."""


class Mailbox:
    """A user's messages and history. `retention` > 0 keeps only that many history records."""

    def __init__(self, address: str, retention: int = 0,
                 notify: Callable[[Mailbox, StoredMessage], None] | None = None) -> None:
        self.address = address
        self.retention = retention
        self.notify = notify            # Gmail push: called for each added message while a watch is set
        self.lock = threading.RLock()
        self.messages: dict[str, StoredMessage] = {}
        self.history: list[HistoryRecord] = []
        self.history_id = FIRST_HISTORY_ID
        self.history_floor = FIRST_HISTORY_ID     # smallest startHistoryId still answered
        self.watch: dict[str, Any] | None = None
        self._by_message_id: dict[str, str] = {}
        self._threads: set[str] = set()
        self.user_labels: dict[str, dict[str, Any]] = {}    # label id ("Label_1") -> Label resource
        self._label_ids = itertools.count(1)

    def create_label(self, name: str, **extra: Any) -> dict[str, Any]:
        """A user label (labels.create): ids Label_<n> as Gmail's; a name already taken (case-insensitively,
        system labels included) answers 409 as Gmail does."""
        name = name.strip()
        if not name:
            raise invalid("Invalid label name")
        with self.lock:
            taken = {n.casefold() for n in SYSTEM_LABELS} | {str(lb["name"]).casefold()
                                                             for lb in self.user_labels.values()}
            if name.casefold() in taken:
                raise conflict("Label name exists or conflicts")
            label = {"id": f"Label_{next(self._label_ids)}", "name": name, "type": "user",
                     "messageListVisibility": extra.get("messageListVisibility", "show"),
                     "labelListVisibility": extra.get("labelListVisibility", "labelShow")}
            self.user_labels[label["id"]] = label
            return dict(label)

    def known_label(self, label_id: str) -> bool:
        return label_id in SYSTEM_LABELS or label_id in self.user_labels

    def add(self, raw: bytes, labels: tuple[str, ...] | list[str], *, thread_id: str | None = None,
            internal_date: int | None = None, env: Envelope | None = None) -> StoredMessage:
        """Store a message (threaded by headers unless `thread_id` names an existing thread)."""
        env = env or envelope(mime.parse(raw))
        with self.lock:
            if thread_id is None:
                thread_id = thread_of(env, self._lookup)
            elif thread_id not in self._threads:
                thread_id = None            # an unknown thread id starts a new thread
            message_id = new_message_id()
            history_id = self._next_history_id()
            msg = StoredMessage(message_id, thread_id or message_id, set(labels), raw,
                                int(time.time() * 1000) if internal_date is None else internal_date,
                                history_id, env)
            self.messages[message_id] = msg
            self._threads.add(msg.thread_id)
            if env.message_id:
                self._by_message_id.setdefault(env.message_id, message_id)
            self._append(HistoryRecord(history_id, "messageAdded", message_id, msg.thread_id, tuple(sorted(msg.labels))))
            watched = self.watch is not None
        if watched and self.notify is not None:
            self.notify(self, msg)
        return msg

    def get(self, message_id: str) -> StoredMessage:
        with self.lock:
            msg = self.messages.get(message_id)
        if msg is None:
            raise not_found()
        return msg

    def modify(self, message_id: str, add: list[str], remove: list[str]) -> StoredMessage:
        """Add/remove labels; each effective change is one history record. Label ids the mailbox does not have
        answer 400 "Invalid label: <id>", and a request naming none 400, as Gmail does."""
        with self.lock:
            msg = self.get(message_id)
            if not add and not remove:
                raise invalid("No label add or removes specified")
            for label in (*add, *remove):
                if not self.known_label(label):
                    raise invalid(f"Invalid label: {label}")
            added = [label for label in add if label not in msg.labels]
            removed = [label for label in remove if label in msg.labels]
            for kind, changed in (("labelAdded", added), ("labelRemoved", removed)):
                if not changed:
                    continue
                msg.labels.update(changed) if kind == "labelAdded" else msg.labels.difference_update(changed)
                msg.history_id = self._next_history_id()
                self._append(HistoryRecord(msg.history_id, kind, msg.id, msg.thread_id,
                                           tuple(sorted(msg.labels)), tuple(changed)))
            return msg

    def delete(self, message_id: str) -> None:
        """Delete permanently (not trash)."""
        with self.lock:
            msg = self.get(message_id)
            del self.messages[message_id]
            if self._by_message_id.get(msg.envelope.message_id or "") == message_id:
                del self._by_message_id[msg.envelope.message_id or ""]
            self._append(HistoryRecord(self._next_history_id(), "messageDeleted", msg.id, msg.thread_id,
                                       tuple(sorted(msg.labels))))

    def history_after(self, start: int) -> list[HistoryRecord]:
        """Records with id > start. Raises HistoryExpired if records after `start` were dropped."""
        with self.lock:
            if start < self.history_floor:
                raise HistoryExpired(str(start))
            return self.history[bisect_right([r.id for r in self.history], start):]

    def expire_history_before(self, history_id: int) -> None:
        """Drop history older than `history_id`: earlier start ids answer 404 from now on."""
        with self.lock:
            self.history_floor = max(self.history_floor, history_id)
            self.history = [r for r in self.history if r.id > history_id]

    def thread(self, thread_id: str) -> list[StoredMessage]:
        with self.lock:
            found = [m for m in self.messages.values() if m.thread_id == thread_id]
        if not found:
            raise not_found()
        return sorted(found, key=lambda m: (m.internal_date, m.id))

    def snapshot(self) -> list[StoredMessage]:
        with self.lock:
            return list(self.messages.values())

    def _lookup(self, rfc_message_id: str) -> tuple[str, str] | None:
        found = self.messages.get(self._by_message_id.get(rfc_message_id, ""))
        return (found.thread_id, found.envelope.subject) if found else None

    def _next_history_id(self) -> int:
        self.history_id += 1
        return self.history_id

    def _append(self, record: HistoryRecord) -> None:
        self.history.append(record)
        if self.retention and len(self.history) > self.retention:
            dropped = self.history[: len(self.history) - self.retention]
            self.history = self.history[len(dropped):]
            self.history_floor = max(self.history_floor, dropped[-1].id)
