"""Synthetic mail for `GraphSandbox.seed`: many small valid RFC 822 messages with their Graph fields, fast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import formatdate

from threadline.sandbox.graph.mime import Envelope


def seed_messages(user: str, n: int, *, days: float, sent_every: int,
                  now: float) -> Iterator[tuple[bytes, Envelope, str, datetime]]:
    """(raw, envelope, folder, received) for `n` messages, oldest first, ending just before `now`."""
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
        received = datetime.fromtimestamp(at, UTC)
        env = Envelope(message_id, subject, ("", sender), (("", recipient),), (), received, (), text, "text", text)
        yield raw, env, "sentitems" if sent else "inbox", received
