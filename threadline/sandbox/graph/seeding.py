"""Synthetic mail for `GraphSandbox.seed`, with the Graph fields each message needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from threadline.sandbox.graph.mime import Envelope
from threadline.sandbox.seed_mail import seeded_mail


def seed_messages(user: str, n: int, *, days: float, sent_every: int,
                  now: float) -> Iterator[tuple[bytes, Envelope, str, datetime]]:
    """(raw, envelope, folder, received) for `n` messages, oldest first, ending just before `now`."""
    for mail in seeded_mail(user, n, days=days, sent_every=sent_every, now=now):
        received = datetime.fromtimestamp(mail.at, UTC)
        env = Envelope(mail.message_id, mail.subject, ("", mail.sender), (("", mail.recipient),), (), received, (),
                       mail.text, "text", mail.text)
        yield mail.raw, env, "sentitems" if mail.sent else "inbox", received
