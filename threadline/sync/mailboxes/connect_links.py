"""Connect links in the store: made by the admin, opened by one rep, used once, shared by every replica.

The link's secret (a random token in the URL) is never stored, only its SHA-256, so a copy of the database
opens nothing. A link goes: made -> started (the rep pressed the button: the OAuth state's digest and the
browser's cookie digest are kept) -> used (the provider sent the rep back; `claim` marks it in one UPDATE, so
two callbacks racing on two replicas cannot both succeed). A connected mailbox is a `found_mailboxes` row
with source `connected`: the engine picks it up on every replica like a mailbox found from the CRM's owners.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from threadline.sync.mailboxes.found import CONNECTED
from threadline.sync.store.tables import ConnectLinkRow, FoundMailboxRow, as_utc, utcnow
from threadline.sync.store.upsert import upsert

CONNECT, DISCONNECT = "connect", "disconnect"


def digest(secret: str) -> str:
    """What the store keeps of a link token, an OAuth state or a browser cookie."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A URL-safe random value with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


class LinkProblem(Exception):
    """Why a link cannot be used, in words for the rep's page."""


def make_link(session: Session, address: str, provider: str, lifetime: timedelta, *, purpose: str = CONNECT,
              aliases: tuple[str, ...] = (), now: datetime | None = None) -> str:
    """Store a new link and return its token (shown once: only its digest is kept)."""
    now = now or utcnow()
    token = new_secret()
    session.add(ConnectLinkRow(id=digest(token), address=address.lower(), provider=provider, purpose=purpose,
                               aliases=",".join(a.lower() for a in aliases), created_at=now,
                               expires_at=now + lifetime))
    return token


def usable_link(session: Session, token: str, *, now: datetime | None = None) -> ConnectLinkRow:
    """The link behind `token` if it can still be used; LinkProblem (unknown, used, expired) otherwise."""
    row = session.get(ConnectLinkRow, digest(token))
    return _check(row, now or utcnow())


def _check(row: ConnectLinkRow | None, now: datetime) -> ConnectLinkRow:
    if row is None:
        raise LinkProblem("This link is not valid. Ask your Threadline admin for a new one.")
    if row.used_at is not None:
        raise LinkProblem("This link has already been used. Ask your Threadline admin for a new one if you need "
                          "to connect again.")
    if as_utc(row.expires_at) <= now:
        raise LinkProblem("This link has expired. Ask your Threadline admin for a new one.")
    return row


def start(session: Session, link_id: str, state: str, browser: str) -> None:
    """The rep is on their way to the provider: remember which OAuth state and which browser to expect back."""
    row = session.get(ConnectLinkRow, link_id)
    assert row is not None
    row.state_digest, row.browser_digest = digest(state), digest(browser)
    session.add(row)


def link_for_state(session: Session, state: str, *, now: datetime | None = None) -> ConnectLinkRow:
    """The started link this OAuth state belongs to; LinkProblem if none (forged, replayed or stale)."""
    row = session.exec(select(ConnectLinkRow).where(col(ConnectLinkRow.state_digest) == digest(state))).first()
    if row is None:
        raise LinkProblem("This sign-in did not start from a Threadline connect link, or it was already "
                          "finished. Open your connect link again.")
    return _check(row, now or utcnow())


def claim(session: Session, link_id: str, outcome: str, *, now: datetime | None = None) -> bool:
    """Mark the link used, once: False when another request (another replica) used it first."""
    now = now or utcnow()
    result = session.execute(update(ConnectLinkRow)
                             .where(col(ConnectLinkRow.id) == link_id, col(ConnectLinkRow.used_at).is_(None))
                             .values(used_at=now, outcome=outcome[:500]))
    return bool(getattr(result, "rowcount", 0) == 1)


def record_outcome(session: Session, link_id: str, outcome: str) -> None:
    row = session.get(ConnectLinkRow, link_id)
    if row is not None:
        row.outcome = outcome[:500]
        session.add(row)


def connected(session: Session, address: str, kind: str, owner_id: str | None) -> None:
    """The rep's mailbox is connected: active for every replica from their next cycle."""
    upsert(session, FoundMailboxRow, [{"address": address.lower(), "kind": kind, "source": CONNECTED,
                                       "owner_id": owner_id, "active": True, "reason": "", "updated_at": utcnow()}],
           ["address"])


def disconnected(session: Session, address: str, reason: str) -> bool:
    """Stop a connected mailbox (its cursor and stored mail decisions stay); False if it was not connected."""
    row = connected_row(session, address)
    if row is None:
        return False
    row.active, row.reason, row.updated_at = False, reason[:500], utcnow()
    session.add(row)
    return True


def connected_row(session: Session, address: str) -> FoundMailboxRow | None:
    """The mailbox's row while it is connected (not after a disconnect)."""
    row = session.get(FoundMailboxRow, address.lower())
    return row if row is not None and row.source == CONNECTED and row.active else None

