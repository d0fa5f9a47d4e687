"""Deterministic idempotency keys: the same intent always gets the same key."""

from __future__ import annotations

import hashlib


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def message_identity(message_id: str | None, mailbox: str, provider_id: str) -> str:
    """Message-ID when the message has one (the same mail in two mailboxes is one mail), else mailbox + provider id."""
    return message_id.lower() if message_id else f"{mailbox}|{provider_id}"


def log_email_key(identity: str, contact_id: str) -> str:
    """Key for logging one message on one contact."""
    return "le-" + _digest("log_email", identity, contact_id)


def update_contact_key(identity: str, contact_id: str) -> str:
    """Key for refreshing a contact's reply properties after one message."""
    return "uc-" + _digest("update_contact", identity, contact_id)
