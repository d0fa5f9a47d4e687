"""Signed per-contact unsubscribe links and the List-Unsubscribe headers of sequence email.

Pure functions: the runner puts them in every email, the web endpoint (connector/web/unsubscribe.py)
reads the token back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_token(secret: str, contact_id: str) -> str:
    """contact id + a truncated HMAC: unguessable, and tells us who without a lookup table."""
    mac = hmac.new(secret.encode(), contact_id.encode(), hashlib.sha256).digest()[:16]
    return f"{_b64(contact_id.encode())}.{_b64(mac)}"


def read_token(secret: str, token: str, previous: Sequence[str] = ()) -> str | None:
    """The contact id a token was made for, or None if it was made with neither `secret` nor a `previous` one.

    `previous` holds secrets rotated out (server.unsubscribe_previous_secrets): links in email already sent
    keep working. New links are made with `secret` only.
    """
    try:
        encoded, _ = token.split(".", 1)
        contact_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    # bytes: compare_digest raises TypeError on a non-ASCII str (such a link was a 500; test_fuzz_payloads.py).
    # Plain compare_digest is enough here: the expected length follows from the id the token itself carries,
    # so an early return on a length mismatch tells nothing about a secret. Every secret is tried, so the time
    # does not say which one (if any) signed the link.
    given = token.encode()
    matches = [hmac.compare_digest(make_token(key, contact_id).encode(), given) for key in (secret, *previous)]
    return contact_id if any(matches) else None


def unsubscribe_url(public_url: str, secret: str, contact_id: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe/{make_token(secret, contact_id)}"


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers for a sequence email."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
