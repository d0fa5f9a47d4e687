"""Synthetic mail for `GmailSandbox.seed`, with the Gmail labels and envelope each message needs."""

from __future__ import annotations

from collections.abc import Iterator

from threadline.sandbox.gmail.conversations import Envelope
from threadline.sandbox.seed_mail import seeded_mail


def seed_messages(user: str, n: int, *, days: float, sent_every: int,
                  now: float) -> Iterator[tuple[bytes, list[str], int, Envelope]]:
    """(raw, labels, internal date ms, envelope) for `n` messages, oldest first, ending just before `now`."""
    for mail in seeded_mail(user, n, days=days, sent_every=sent_every, now=now):
        labels = ["SENT"] if mail.sent else ["INBOX", "UNREAD"]
        yield mail.raw, labels, int(mail.at * 1000), Envelope(mail.message_id, (), mail.subject)
