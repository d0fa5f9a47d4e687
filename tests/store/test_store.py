"""The store on SQLite and PostgreSQL: migrations, outbox idempotency, leases, mirror and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect
from sqlmodel import select

from threadline.adapters.records import CrmContact
from threadline.sync.contacts.mirror import contacts_for_address, save_contacts, surviving_contact
from threadline.sync.mail.matching import AddressPolicy
from threadline.sync.outbox import rows as outbox
from threadline.sync.outbox.rows import Intent
from threadline.sync.store.database import Store, current_revision, head_revision, upgrade
from threadline.sync.store.tables import OutboxRow, SyncErrorRow
from threadline.sync.work.cursors import load_cursor, record_error, save_cursor


def _contact(cid: str, *emails: str, merged_into: str | None = None) -> CrmContact:
    return CrmContact(id=cid, emails=emails, updated_at=datetime(2026, 1, 1, tzinfo=UTC), merged_into=merged_into)


def test_migrations_create_every_table_and_rerun_is_a_no_op(store_url: str) -> None:
    store = Store(store_url)
    assert current_revision(store.engine) == head_revision()
    assert upgrade(store_url) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"contacts", "contact_addresses", "cursors", "messages", "outbox", "sync_errors"} <= tables
    store.dispose()


def test_intending_the_same_key_twice_records_it_once(store_url: str) -> None:
    store = Store(store_url)
    intent = Intent("le-1", "log_email", "c1", {"x": 1})
    with store.session() as session:
        assert outbox.intend(session, [intent, Intent("le-2", "log_email", "c1", {})]) == 2
    with store.session() as session:
        assert outbox.intend(session, [intent]) == 0
        assert len(session.exec(select(OutboxRow)).all()) == 2
    store.dispose()


def test_claimed_rows_are_leased_and_not_claimed_again(store_url: str) -> None:
    store = Store(store_url)
    with store.session() as session:
        outbox.intend(session, [Intent(f"k{i}", "log_email", "c", {}) for i in range(5)])
    with store.session() as session:
        first = outbox.claim_due(session, "log_email", "a", timedelta(minutes=5), 3)
    with store.session() as session:
        second = outbox.claim_due(session, "log_email", "b", timedelta(minutes=5), 10)
    assert [r.key for r in first] == ["k0", "k1", "k2"]
    assert [r.key for r in second] == ["k3", "k4"]
    with store.session() as session:
        # Leases are live: a shared store does not hand them out as orphans; a single-replica store does.
        assert outbox.orphaned_in_flight(session, "log_email", respect_leases=True) == []
        assert len(outbox.orphaned_in_flight(session, "log_email", respect_leases=False)) == 5
    store.dispose()


def test_failed_attempt_is_retried_only_when_due(store_url: str) -> None:
    store = Store(store_url)
    with store.session() as session:
        outbox.intend(session, [Intent("k", "log_email", "c", {})])
    with store.session() as session:
        [row] = outbox.claim_due(session, "log_email", "a", timedelta(minutes=5), 1)
        outbox.mark_retry(row, "TransientError: 503", timedelta(hours=1))
        session.add(row)
    with store.session() as session:
        assert outbox.claim_due(session, "log_email", "a", timedelta(minutes=5), 1) == []
        assert outbox.counts_by_status(session) == {"pending": 1}
    store.dispose()


def test_mirror_indexes_every_address_and_follows_merges(store_url: str) -> None:
    store = Store(store_url)
    policy = AddressPolicy()
    with store.session() as session:
        save_contacts(session, [_contact("1", "Jane@Acme.com", "jane.doe@acme.io"), _contact("2", "bob@beta.com")], policy)
    with store.session() as session:
        save_contacts(session, [_contact("2", "bob@beta.com", merged_into="1")], policy)
    with store.session() as session:
        assert contacts_for_address(session, "jane@acme.com") == ["1"]
        assert contacts_for_address(session, "jane.doe@acme.io") == ["1"]
        assert contacts_for_address(session, "bob@beta.com") == []
        assert surviving_contact(session, "2") == "1"
    store.dispose()


def test_cursor_round_trips_and_errors_are_bounded(store_url: str) -> None:
    store = Store(store_url)
    with store.session() as session:
        save_cursor(session, "mailbox:a@b.com", {"history_id": "42"}, resync_reason="expired")
    with store.session() as session:
        assert load_cursor(session, "mailbox:a@b.com") == {"history_id": "42"}
        for i in range(60):
            record_error(session, "mailbox:a@b.com", "TransientError", f"boom {i}")
    with store.session() as session:
        kept = session.exec(select(SyncErrorRow)).all()
        assert len(kept) == 50 and kept[-1].message == "boom 59"
    store.dispose()


def test_retention_forgets_old_messages_and_finished_rows_but_keeps_pending_work(store_url: str) -> None:
    from threadline.sync.store.retention import purge_expired
    from threadline.sync.store.tables import MessageRow

    store = Store(store_url)
    old = datetime.now(UTC) - timedelta(days=400)
    with store.session() as session:
        session.add(MessageRow(mailbox="a@b.com", provider_id="1", folder="inbox", classification="reply",
                               decision="logged", seen_at=old))
        session.add(MessageRow(mailbox="a@b.com", provider_id="2", folder="inbox", classification="reply",
                               decision="logged"))
        session.add(OutboxRow(key="old-done", kind="log_email", contact_id="c", payload="{}", status="done",
                              updated_at=old))
        session.add(OutboxRow(key="old-pending", kind="log_email", contact_id="c", payload="{}", status="pending",
                              updated_at=old))
    with store.session() as session:
        assert purge_expired(session, timedelta(days=365)) == 2
    with store.session() as session:
        assert [m.provider_id for m in session.exec(select(MessageRow)).all()] == ["2"]
        assert [r.key for r in session.exec(select(OutboxRow)).all()] == ["old-pending"]
    store.dispose()


def test_migrations_match_the_models(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    store = Store(store_url)
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    store.dispose()


def test_a_message_logged_on_hundreds_of_contacts_fits_the_store(store_url: str) -> None:
    """contact_ids was varchar(2000): ~90 contacts overflowed it on PostgreSQL and stuck the mailbox's cursor."""
    import json

    from threadline.sync.store.tables import MessageRow

    store = Store(store_url)
    many = [f"contact-{n:06d}" for n in range(300)]
    with store.session() as session:
        session.add(MessageRow(mailbox="rep@example.com", provider_id="m1", folder="sent", classification="message",
                               decision="logged", contact_ids=json.dumps(many)))
    with store.session() as session:
        assert json.loads(session.exec(select(MessageRow)).one().contact_ids) == many
    store.dispose()


def test_opening_a_store_takes_no_statistics_and_a_refresh_takes_them_at_most_hourly(tmp_path: Path) -> None:
    # Opening must not write: `plan` and `outbox` open the store beside a running daemon. SQLite's planner
    # statistics are taken by the daemon hourly and by `report` before it reads.
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    store = Store(url)

    def statistics_tables() -> list[str]:
        with store.engine.connect() as connection:
            return [name for (name,) in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")]

    assert statistics_tables() == []
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert store.refresh_statistics(now) and statistics_tables() == ["sqlite_stat1"]
    assert not store.refresh_statistics(now + timedelta(minutes=59))
    assert store.refresh_statistics(now + timedelta(hours=1))
    store.dispose()
