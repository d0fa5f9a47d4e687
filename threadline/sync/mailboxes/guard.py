"""One caller at a time per mailbox adapter, across a process's threads.

A mailbox's adapter is also its sender (Gmail, Outlook), and some adapters are not
thread-safe: Gmail's httplib2 transport, an IMAP connection. The daemon pulls on its
scheduler thread while its sends drainer sends, so a send from a mailbox and a pull of it
must not overlap (found by bench/bench_replicas.py: a shared httplib2.Http answered one
thread's request with the other's response, a KeyError 'historyId').
"""

from __future__ import annotations

import threading
from datetime import timedelta

from threadline.adapters.sending import MailSender, OnSubmit, OutgoingEmail, SentRef


class MailboxGuards:
    """A reentrant lock per mailbox address, made on first use."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.RLock] = {}
        self._made = threading.Lock()

    def lock(self, address: str) -> threading.RLock:
        with self._made:
            return self._locks.setdefault(address, threading.RLock())


class GuardedSender:
    """A MailSender whose calls hold its mailbox's lock while they run."""

    def __init__(self, sender: MailSender, lock: threading.RLock) -> None:
        self._sender = sender
        self._lock = lock

    @property
    def sent_visibility(self) -> timedelta | None:
        return self._sender.sent_visibility

    def send(self, email: OutgoingEmail, *, on_submit: OnSubmit | None = None) -> SentRef:
        with self._lock:
            return self._sender.send(email, on_submit=on_submit)

    def find_sent(self, message_id: str) -> SentRef | None:
        with self._lock:
            return self._sender.find_sent(message_id)
