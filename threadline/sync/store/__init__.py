"""The state store: SQLModel tables, engine creation, Alembic migrations."""
