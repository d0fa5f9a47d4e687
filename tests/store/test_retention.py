"""Retention on SQLite and PostgreSQL, on a clock the test moves: exactly what the README says goes after
`store.retention_days` goes (message rows, deferred mail, finished outbox rows including cancelled ones, old
errors, the subject and text cached in mail events), and nothing else does."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from threadline.sync.events.log import record_events
from threadline.sync.events.records import Event
from threadline.sync.store.database import Store
from threadline.sync.store.retention import purge_expired
from threadline.sync.store.tables import (
    AuditRow,
    ContactRow,
    DeferredMailRow,
    EnrollmentRow,
    EventRow,
    MessageRow,
    OutboxRow,
    SyncErrorRow,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=365)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    with store.session() as session:
        session.add(ContactRow(crm_id="c1", primary_email="ada@acme.io", updated_at=T0))
        session.add(MessageRow(mailbox="rep@x.io", provider_id="m1", folder="inbox", classification="reply",
                               decision="logged", from_address="ada@acme.io", subject="Re: pilot",
                               reply_text="Ada's words", seen_at=T0))
        session.add(DeferredMailRow(mailbox="rep@x.io", provider_id="d1", folder="inbox", raw=zlib.compress(b"x"),
                                    deferred_at=T0))
        for status in ("done", "failed", "cancelled", "pending", "in_flight"):
            session.add(OutboxRow(key=f"k-{status}", kind="log_email", contact_id="c1", payload='{"text": "t"}',
                                  status=status, created_at=T0, updated_at=T0))
        session.add(SyncErrorRow(source="sequences", kind="send_unconfirmed", message="to ada@acme.io", at=T0))
        session.add(EnrollmentRow(sequence="welcome", contact_id="c1", status="completed", enrolled_at=T0))
        session.add(AuditRow(at=T0, rule="sequence:welcome", contact_id="c1", effect_key="a1", kind="log_email",
                             reason="sent", detail="{}"))
        record_events(session, [
            Event(id="r1", type="reply.received", contact_id="c1", occurred_at=T0, source="mailbox:rep@x.io",
                  data={"subject": "Re: pilot", "text": "Ada's words", "message_id": "<m1@x>", "mailbox": "rep@x.io"}),
            Event(id="o1", type="owner.changed", contact_id="c1", occurred_at=T0, source="crm", data={"to": "o2"})])
    yield store
    store.dispose()


def counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {table.__tablename__: len(session.exec(select(table)).all())  # type: ignore[attr-defined]
                for table in (MessageRow, DeferredMailRow, OutboxRow, SyncErrorRow, EventRow, EnrollmentRow,
                              AuditRow, ContactRow)}


def test_nothing_goes_before_the_window_has_passed(store: Store) -> None:
    before = counts(store)
    with store.session() as session:
        assert purge_expired(session, KEEP, T0 + KEEP - timedelta(minutes=1)) == 0
    assert counts(store) == before
    with store.session() as session:
        assert "text" in json.loads(session.exec(select(EventRow).where(EventRow.id == "r1")).one().data)


def test_after_the_window_headers_text_and_finished_work_go_and_the_rest_stays(store: Store) -> None:
    with store.session() as session:
        # message + deferred mail + done, failed and cancelled outbox rows + the error
        assert purge_expired(session, KEEP, T0 + KEEP + timedelta(minutes=1)) == 6
    assert counts(store) == {"messages": 0, "deferred_mail": 0, "outbox": 2, "sync_errors": 0, "events": 2,
                             "enrollments": 1, "audit": 1, "contacts": 1}
    with store.session() as session:
        assert sorted(session.exec(select(OutboxRow.status)).all()) == ["in_flight", "pending"]
        events = {e.id: json.loads(e.data) for e in session.exec(select(EventRow).order_by(col(EventRow.seq)))}
    assert events == {"r1": {"message_id": "<m1@x>", "mailbox": "rep@x.io"}, "o1": {"to": "o2"}}
