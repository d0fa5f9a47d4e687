"""Open the store: engine creation (SQLite pragmas, PostgreSQL pool) and migrations on start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from threadline.sync.store.disk_full import watch_disk_full

MIGRATIONS = Path(__file__).parent / "migrations"
#: How often the daemon re-takes SQLite's planner statistics, and how many rows per index ANALYZE samples.
STATISTICS_EVERY = timedelta(hours=1)
ANALYSIS_LIMIT = "PRAGMA analysis_limit=1000"


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL and a busy timeout so a reader never blocks the daemon."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")   # a committed outbox row must survive power loss
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        watch_disk_full(engine, url)       # a full disk is an operator's problem: say where, not a traceback
        return engine
    # hide_parameters: a database error logged by the daemon must not carry a subject or reply text with it.
    # max_overflow: each mailbox worker (sync.mailbox_concurrency, 16) holds a connection while it commits a page.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=20, hide_parameters=True)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any fixed 64-bit number; only Threadline's migrations take this PostgreSQL advisory lock.
MIGRATION_LOCK = 0x7468726561646C6E


def upgrade(url: str) -> str:
    """Apply every pending migration (idempotent). Returns the head revision."""
    with _migration_lock(url):
        command.upgrade(alembic_config(url), "head")
    return head_revision()


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Replicas starting together on PostgreSQL take turns: one migrates, the others then find nothing to do.
    Without it they race to create the same tables. SQLite has one replica, so nothing to wait for."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_current_head())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class Store:
    """An opened, migrated store. Sessions commit on success and roll back on error."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            upgrade(url)
        self.engine = make_engine(url)
        # Not refreshed here: opening must not write (`plan`, `outbox` and the like open the store beside a
        # running daemon). The daemon refreshes them hourly, and `report` once before it reads.
        self._statistics_at: datetime | None = None

    def refresh_statistics(self, now: datetime) -> bool:
        """SQLite only, at most once per STATISTICS_EVERY: re-take the query planner's statistics (a bounded
        ANALYZE, a few hundred rows per index). Without them SQLite picks an index by its own guesses: the
        report's `contact_id IN (...)` reads went through `kind`/`type` indexes and grew with the square of the
        store (bench report_scale). PostgreSQL's autovacuum analyzes by itself. Returns whether it ran."""
        if self.engine.dialect.name != "sqlite":
            return False
        if self._statistics_at is not None and now - self._statistics_at < STATISTICS_EVERY:
            return False
        with self.engine.connect() as connection:
            connection.exec_driver_sql(ANALYSIS_LIMIT)
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        self._statistics_at = now
        return True

    @property
    def shared(self) -> bool:
        """True when several replicas may share this store (PostgreSQL): leases must be respected."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
