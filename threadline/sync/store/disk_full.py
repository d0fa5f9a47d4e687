"""SQLite's "database or disk is full" as an error that says where to free space (instead of a traceback)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import OperationalError


class StoreFull(OperationalError):
    """The SQLite store could not be written because its file system is full. Still an OperationalError, so every
    handler of store errors keeps working; `message` names the directory to free space in."""

    directory: Path
    message: str

    def __str__(self) -> str:
        # Not SQLAlchemy's text: that carries the statement's parameters (reply text) into logs.
        return self.message


def watch_disk_full(engine: Engine, url: str) -> None:
    """Raise StoreFull (naming the store's directory) from `engine` when SQLite reports SQLITE_FULL."""
    database = make_url(url).database or ""
    directory = Path(database).resolve().parent if database else Path.cwd()

    @event.listens_for(engine, "handle_error")
    def _disk_full(context: Any) -> None:
        original = context.original_exception
        if getattr(original, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            return
        full = StoreFull(context.statement, context.parameters, original)
        full.directory = directory
        full.message = (f"database or disk is full: free space on {directory} (the store {database}), "
                        "then run again; what was committed is kept and nothing is done twice")
        raise full
