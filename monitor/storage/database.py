"""Opening the configured database for a command: every check made before it is touched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from monitor.config import DatabaseSettings
from monitor.errors import StorageError
from monitor.storage.engine import (
    check_sqlite_header,
    describe_database_error,
    is_damaged,
    open_engine,
    require_writable,
    sqlite_path,
)
from monitor.storage.migrate import ensure_schema, upgrade

TABLE_NAMES = "SELECT name FROM sqlite_master WHERE type = 'table'"
STAMP_COUNT = "SELECT count(*) FROM alembic_version"


@contextmanager
def open_checked_engine(
    settings: DatabaseSettings, require_schema: bool = True, writable: bool = True
) -> Iterator[Engine]:
    """The engine, once the database has passed the checks a command needs.

    A damaged SQLite file is refused before it is opened. An empty database (no tables at all)
    gets the schema; one at another revision is refused with advice. `writable` refuses a
    read-only database at once rather than at the first write. A damaged page met later is
    reported in one line too. A refused command leaves no new empty SQLite file behind.
    """
    path = sqlite_path(settings.url)
    is_new_file = path is not None and not path.exists()
    if path is not None:
        check_sqlite_header(path)
    engine = open_engine(settings)
    try:
        try:
            if require_schema and is_new_file:
                upgrade(engine)
            elif require_schema:
                ensure_schema(engine)
            if writable:
                require_writable(engine)
        except DBAPIError as exc:
            raise StorageError(f"cannot open {describe_database_error(engine, exc)}") from None
        try:
            yield engine
        except DBAPIError as exc:
            if is_damaged(exc):  # a damaged page met in the middle of a command
                raise StorageError(describe_database_error(engine, exc)) from None
            raise
    finally:
        engine.dispose()
        if is_new_file and path is not None:
            discard_if_empty(path)


def discard_if_empty(path: Path) -> None:
    """Remove an SQLite file that was created without storing anything in it (no table, or
    only alembic's empty bookkeeping table)."""
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(path)  # read-write, so closing removes its -wal and -shm
        try:
            tables = {row[0] for row in connection.execute(TABLE_NAMES)}
            stamped = "alembic_version" in tables and connection.execute(STAMP_COUNT).fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return
    if tables <= {"alembic_version"} and not stamped:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
