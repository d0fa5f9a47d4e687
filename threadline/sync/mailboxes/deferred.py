"""Mail from unknown senders while the contact mirror is still being filled: kept, then decided again.

A contact pull that pauses at the daily reserve (sync/contacts/reserve.py) leaves the mirror part filled, and
the mailboxes go on so that replies from the contacts already mirrored are logged the same day. A message from
no known contact then may be from a contact the backfill has not reached: skipping it for good would drop that
reply. So while the CRM source is not caught up (`CursorRow.caught_up` is False), such a message is recorded as
`deferred` and kept here, slimmed to its headers and text parts; once a contact pull has read to the end, every
deferred message is decided again exactly as a fresh one (the same keys, so nothing is logged twice) and the
ones still from nobody known are skipped then.

The same holds for the order mail is read in. A stranger's message in a thread (a prospect's colleague writing
"adding myself here", the prospect in Cc) is logged on the thread's contacts when the thread is known, and Gmail's
backfill reads newest first: the colleague's message comes before the one that makes the thread known. So a
stranger's message in a thread is skipped as before but also kept here as a `thread` wait; when a message of that
thread is logged in the same mailbox, the waits of the thread are decided again (ingest.py). They are kept for
THREAD_WAIT after they were read, long enough for any backfill to reach the rest of the thread.
"""

from __future__ import annotations

import email
import email.policy
import zlib
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete
from sqlmodel import Session, col, select

from threadline.adapters.records import RawMessage
from threadline.sync.store.database import Store
from threadline.sync.store.tables import DeferredMailRow, MessageRow, as_utc

log = structlog.get_logger("threadline.mailbox")

#: A message larger than this keeps its headers and text parts only (attachments are never logged).
SLIM_ABOVE = 256 * 1024
BATCH = 200
#: How long a stranger's message waits for its thread to become known.
THREAD_WAIT = timedelta(days=30)
MIRROR, THREAD = "mirror", "thread"

Ingest = Callable[[Session, str, str | None, RawMessage], None]


def slim(raw: bytes) -> bytes:
    """`raw` itself when small; else its headers, first text/plain and text/html parts and calendar part (which
    makes it a meeting response): all a message is decided and logged from. Kept whole when it has no Message-ID (its identity, and the key it is logged
    under, is then a digest of its bytes) or cannot be rebuilt (repeated headers, broken MIME): size is the
    lesser loss."""
    if len(raw) <= SLIM_ABOVE:
        return raw
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        if not message.get("Message-ID"):
            return raw
        kept = email.message.Message()            # compat32: repeated headers are kept as they came
        for name, value in message.items():
            if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
                kept[name] = value
        texts: dict[str, str] = {}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in ("text/calendar", "application/ics") and "text/calendar" not in texts:   # a meeting response
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts["text/calendar"] = payload.decode(part.get_content_charset() or "utf-8", "replace")
                    method = part.get_param("method")
                    texts["method"] = method if isinstance(method, str) else ""
            if kind in ("text/plain", "text/html") and kind not in texts and not part.get_filename():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
        body = email.message.EmailMessage()
        body.set_content(texts.get("text/plain", ""))
        if "text/html" in texts:
            body.add_alternative(texts["text/html"], subtype="html")
        if "text/calendar" in texts:
            body.add_alternative(texts["text/calendar"], subtype="calendar",
                                 params={"method": texts["method"]} if texts["method"] else {})
        for name, value in body.items():
            kept[name] = value
        kept.set_payload(body.get_payload())
        return kept.as_bytes()
    except Exception:  # noqa: BLE001 - anything the rebuild trips on: keep the message whole
        return raw


def defer(session: Session, mailbox: str, owner_id: str | None, raw: RawMessage, *, kind: str = MIRROR,
          thread_ref: str | None = None) -> None:
    """Keep `raw` to be decided again (in the caller's transaction, with its MessageRow): until the mirror has
    caught up (`MIRROR`), or until a message of thread `thread_ref` is logged in `mailbox` (`THREAD`)."""
    session.add(DeferredMailRow(mailbox=mailbox, provider_id=raw.provider_id, folder=raw.folder,
                                thread_id=raw.thread_id, internal_date=raw.internal_date, owner_id=owner_id,
                                raw=zlib.compress(slim(raw.raw)), kind=kind, thread_ref=thread_ref))


def any_deferred(session: Session) -> bool:
    """Whether any message waits for the contact mirror to catch up."""
    return session.exec(select(DeferredMailRow.id).where(DeferredMailRow.kind == MIRROR).limit(1)).first() is not None


def take_thread_waits(session: Session, mailbox: str, thread_refs: Collection[str],
                      keep: Collection[str] = ()) -> list[tuple[str | None, RawMessage]]:
    """Remove and return the messages of `mailbox` waiting for one of `thread_refs` to become known, with their
    owner ids, oldest first; their `skipped` MessageRows go too, so the caller decides them as fresh messages.
    Messages whose provider id is in `keep` (already decided again in this pass) stay as they are."""
    if not thread_refs:
        return []
    query = select(DeferredMailRow).where(DeferredMailRow.mailbox == mailbox, DeferredMailRow.kind == THREAD,
                                          col(DeferredMailRow.thread_ref).in_(sorted(thread_refs)))
    if keep:
        query = query.where(col(DeferredMailRow.provider_id).not_in(sorted(keep)))
    rows = list(session.exec(query.order_by(col(DeferredMailRow.id))).all())
    taken = []
    for row in rows:
        session.execute(delete(MessageRow).where(col(MessageRow.mailbox) == row.mailbox,
                                                 col(MessageRow.provider_id) == row.provider_id))
        session.delete(row)
        taken.append((row.owner_id, _raw_of(row)))
    session.flush()
    return taken


def purge_thread_waits(session: Session, now: datetime) -> int:
    """Forget the stranger messages that waited THREAD_WAIT for their thread (they stay skipped)."""
    result = session.execute(delete(DeferredMailRow).where(col(DeferredMailRow.kind) == THREAD,
                                                           col(DeferredMailRow.deferred_at) < now - THREAD_WAIT))
    return int(getattr(result, "rowcount", 0) or 0)


def _raw_of(row: DeferredMailRow) -> RawMessage:
    return RawMessage(provider_id=row.provider_id, folder=row.folder, raw=zlib.decompress(row.raw),
                      thread_id=row.thread_id, internal_date=as_utc(row.internal_date))


def redecide(store: Store, ingest: Ingest, *, batch: int = BATCH,
             fence: Callable[[Session], None] | None = None) -> int:
    """Decide every deferred message again through `ingest` (MailboxSync's own path), oldest first, a batch per
    transaction; returns how many were taken up. A message decided again while the mirror is still behind is
    deferred again (a new row past this pass's end), so the pass always ends."""
    with store.session() as session:
        last = session.exec(select(DeferredMailRow.id).where(DeferredMailRow.kind == MIRROR)
                            .order_by(col(DeferredMailRow.id).desc()).limit(1)).first()
    after, done = 0, 0
    while last is not None and after < last:
        with store.session() as session:
            rows = list(session.exec(select(DeferredMailRow).where(
                DeferredMailRow.kind == MIRROR, col(DeferredMailRow.id) > after, col(DeferredMailRow.id) <= last)
                .order_by(col(DeferredMailRow.id)).limit(batch)).all())
            if not rows:
                break
            for row in rows:
                # The MessageRow of the deferral goes with it: the message is decided as if seen for the first time.
                session.execute(delete(MessageRow).where(col(MessageRow.mailbox) == row.mailbox,
                                                         col(MessageRow.provider_id) == row.provider_id,
                                                         col(MessageRow.decision) == "deferred"))
                session.delete(row)
                session.flush()
                ingest(session, row.mailbox, row.owner_id, _raw_of(row))
            if fence is not None:
                fence(session)        # raises LeaseLost (the batch rolls back) if the CRM unit moved on
            after = rows[-1].id or after
            done += len(rows)
    if done:
        log.info("mail.redecided", messages=done, at=datetime.now(UTC).isoformat(timespec="seconds"))
    return done
