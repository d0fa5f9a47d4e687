"""The state store: SQLModel tables, engine creation (SQLite and PostgreSQL), Alembic migrations, sealed secrets,
dialect-neutral upserts and retention. The bottom of the engine: imports nothing else of Threadline."""
