"""Which server folders play the roles Threadline reads: INBOX and Sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Tried in order when the server does not mark a folder \Sent (RFC 6154 SPECIAL-USE).
COMMON_SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "[Gmail]/Sent Mail", "INBOX.Sent")

FolderListing = Iterable[tuple[Sequence[bytes], bytes, str]]  # IMAPClient.list_folders() rows


def find_sent_folder(listing: FolderListing) -> str | None:
    """The folder flagged \\Sent, else the first common Sent name present (case-insensitive), else None."""
    rows = list(listing)
    for flags, _delimiter, name in rows:
        if any(flag.lower() == b"\\sent" for flag in flags):
            return name
    by_lower = {name.lower(): name for _flags, _delimiter, name in rows}
    return next((by_lower[n.lower()] for n in COMMON_SENT_NAMES if n.lower() in by_lower), None)
