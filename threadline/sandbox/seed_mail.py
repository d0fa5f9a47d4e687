"""Synthetic mail for the mailbox simulators' `seed`: many small valid RFC 822 messages, generated fast."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate


@dataclass(frozen=True)
class SeededMail:
    raw: bytes
    sent: bool            # the user sent it (Sent folder) rather than received it
    at: float             # epoch seconds
    sender: str
    recipient: str
    message_id: str
    subject: str
    text: str


def seeded_mail(user: str, n: int, *, days: float, sent_every: int, now: float) -> Iterator[SeededMail]:
    """`n` messages spread over the last `days`, oldest first; every `sent_every`-th one is sent by `user`."""
    span = days * 86400.0
    for i in range(n):
        at = now - span + span * (i + 1) / (n + 1)
        sent = sent_every > 0 and i % sent_every == sent_every - 1
        peer = f"contact{i % 997}@customer{i % 89}.example"
        sender, recipient = (user, peer) if sent else (peer, user)
        message_id = f"<seed-{i}-{int(now)}@threadline.sandbox>"
        subject = f"Seeded conversation {i}"
        text = f"Hello, this is seeded message number {i}."
        raw = (f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\nDate: {formatdate(at)}\r\n"
               f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               f"{text}\r\n").encode()
        yield SeededMail(raw, sent, at, sender, recipient, message_id, subject, text)
