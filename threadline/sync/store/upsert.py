"""Insert-or-ignore / insert-or-update in the dialect at hand (SQLite and PostgreSQL speak the same ON CONFLICT),
in statements small enough for either dialect's limit on bound variables, however many rows come in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

#: Bound variables one statement may carry: under SQLite's default 32,766 (PostgreSQL allows 65,535).
MAX_VARIABLES = 30_000


def _batches(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows in statements small enough for both dialects, however many rows a caller hands in."""
    size = max(1, MAX_VARIABLES // max(1, len(rows[0])))
    return [list(rows[start:start + size]) for start in range(0, len(rows), size)]


def _insert(session: Session, table: type[SQLModel]) -> Any:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table.__table__)  # type: ignore[attr-defined]  # set on table models; SQLModel does not declare it


def insert_ignore(session: Session, table: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert rows; rows whose `keys` already exist are left as they are. Returns rows inserted."""
    if not rows:
        return 0
    insert = _insert(session, table)
    inserted = 0
    for batch in _batches(rows):
        # RETURNING counts what was really inserted on both dialects (psycopg reports rowcount -1 here).
        statement = insert.values(batch).on_conflict_do_nothing(index_elements=list(keys)).returning(
            *[insert.table.c[k] for k in keys])
        inserted += len(session.execute(statement).all())
    return inserted


def upsert(session: Session, table: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str],
           *, kept_while_same: Mapping[str, str] | None = None) -> None:
    """Insert rows, or update every non-key column where `keys` already exist. `kept_while_same` maps a column
    to another: the first keeps its stored value while the second's incoming value equals the stored one
    (a contact's `mirrored_at` stays while the CRM's `updated_at` is unchanged)."""
    for batch in _batches(rows) if rows else []:
        statement = _insert(session, table).values(batch)
        stored = statement.table.c
        update = {c: statement.excluded[c] for c in batch[0] if c not in keys}
        for column, witness in (kept_while_same or {}).items():
            update[column] = case((stored[witness] == statement.excluded[witness], stored[column]),
                                  else_=statement.excluded[column])
        session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=update))
