"""Deterministic idempotency keys: the same intent always gets the same key."""

from __future__ import annotations

import hashlib


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def message_identity(message_id: str | None, mailbox: str, provider_id: str, raw: bytes | None = None) -> str:
    """Message-ID when the message has one (the same mail in two mailboxes is one mail); else mailbox + a digest
    of the message's bytes when given, else mailbox + provider id."""
    if message_id:
        return message_id.lower()
    if raw is not None:
        # Not the provider id: an IMAP id holds UIDVALIDITY, so a renumbered or restored folder would give the
        # same mail a new identity and log it a second time (found by tests/reliability/test_imap_uidvalidity.py).
        return f"{mailbox}|sha256:{hashlib.sha256(raw).hexdigest()}"
    return f"{mailbox}|{provider_id}"


def log_email_key(identity: str, contact_id: str) -> str:
    """Key for logging one message on one contact."""
    return "le-" + _digest("log_email", identity, contact_id)


def update_contact_key(identity: str, contact_id: str) -> str:
    """Key for refreshing a contact's reply properties after one message."""
    return "uc-" + _digest("update_contact", identity, contact_id)


def create_contact_key(address: str) -> str:
    """Key for creating the contact of one normalised address: the same in every mailbox and replica, so the
    person is intended (and created) once."""
    return "cc-" + _digest("create_contact", address.strip().lower())
