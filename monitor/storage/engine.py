"""Engines for the embedded SQLite default and for PostgreSQL, and the checks made on opening."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry

from monitor.config import DatabaseSettings
from monitor.errors import ConfigError, StorageError
from monitor.storage.text import register_sqlite_functions

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_BYTES = 100
SQLITE_DAMAGE_MESSAGES = ("file is not a database", "database disk image is malformed")
POSTGRES_MISSING_DATABASE = "3D000"  # SQLSTATE invalid_catalog_name
POSTGRES_MAINTENANCE_DATABASE = "postgres"
DAMAGED_ADVICE = (
    "restore a backup (made with `monitor db backup`) or run `monitor db check` for details; "
    "monitor will not write to it"
)


def parse_database_url(raw: str) -> URL:
    try:
        return make_url(raw)
    except ArgumentError:
        raise ConfigError(f"database.url: not a database URL: {raw!r}") from None


def open_engine(settings: DatabaseSettings) -> Engine:
    """Create the engine named by the settings; SQLite gets its pragmas and IMMEDIATE writes.

    Nothing is created here: the SQLite directory and the PostgreSQL database are made only
    when a migration runs (`prepare_database`), so a refused command leaves nothing behind.
    """
    url = parse_database_url(settings.url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, echo=settings.echo, pool_pre_ping=True)
    engine = create_engine(url, echo=settings.echo)
    configure_sqlite(engine, settings.busy_timeout_ms)
    return engine


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, busy timeout, foreign keys, Unicode `lower()`, and `BEGIN IMMEDIATE` for every
    transaction.

    pysqlite's own deferred BEGIN takes the write lock only at the first write; a second writer
    then fails with "database is locked" instead of waiting. Beginning IMMEDIATE takes the lock up
    front, so `busy_timeout` applies and no transaction fails on a lock upgrade.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_path(url: URL | str) -> Path | None:
    """The file behind an SQLite URL (also `file:…?uri=true` URLs); None for memory and servers."""
    url = parse_database_url(url) if isinstance(url, str) else url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = url.database
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
        if url.query.get("mode") == "memory" or not database:
            return None
    return Path(database).absolute()


def redact_url(url: URL | str) -> str:
    """The URL with any password hidden, fit for logs and `monitor config show`."""
    url = parse_database_url(url) if isinstance(url, str) else url
    return url._replace(password=None).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL as `pg_dump` and `psql` take it: no driver suffix, no password."""
    parsed = parse_database_url(url)
    return redact_url(parsed.set(drivername=parsed.get_backend_name()))


def database_label(url: URL | str) -> str:
    """How messages name a database: the SQLite file's path, else the URL without its password."""
    path = sqlite_path(url)
    return str(path) if path else redact_url(url)


def error_detail(exc: BaseException) -> str:
    """The driver's message on one line."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return " ".join(str(original).split()) or type(original).__name__


def is_damaged(exc: BaseException) -> bool:
    """Whether SQLite reports the file as corrupt (bad header, truncation, a damaged page)."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(original, sqlite3.DatabaseError) and any(
        message in str(original) for message in SQLITE_DAMAGE_MESSAGES
    )


def damaged_message(label: str, detail: str) -> str:
    return f"the database file {label} is damaged ({detail}): {DAMAGED_ADVICE}"


def describe_database_error(engine: Engine, exc: BaseException) -> str:
    """`<database>: <driver message>` on one line, with advice when the file is damaged."""
    label = database_label(engine.url)
    if is_damaged(exc):
        return damaged_message(label, error_detail(exc))
    if isinstance(exc, DBAPIError) and is_missing_postgres_database(engine, exc):
        return f"{label}: the database does not exist; `monitor db upgrade` creates it"
    return f"{label}: {error_detail(exc)}"


def check_sqlite_header(path: Path) -> None:
    """Refuse a file whose header is not SQLite's or that is shorter than its header says.

    Only reads the file: a damaged database is never opened for writing. An empty (0-byte)
    file is an empty database. The length check is skipped while a write-ahead log holds pages
    that are not yet in the main file.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(SQLITE_HEADER_BYTES)
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot read the database file {path}: {exc.strerror}") from None
    if not header:
        return
    if len(header) < SQLITE_HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise StorageError(damaged_message(str(path), "not an SQLite header"))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StorageError(damaged_message(str(path), f"impossible page size {page_size}"))
    page_count = int.from_bytes(header[28:32], "big")
    count_is_valid = header[24:28] == header[92:96] and page_count > 0
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    if size % page_size or (count_is_valid and size < page_count * page_size):
        raise StorageError(
            damaged_message(
                str(path), f"truncated: {size} bytes, the header says {page_count * page_size}"
            )
        )


def prepare_database(engine: Engine) -> None:
    """Make what a migration needs: the SQLite file's directory, or the PostgreSQL database."""
    path = sqlite_path(engine.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif engine.url.get_backend_name() == "postgresql":
        create_postgres_database_if_missing(engine)


def is_missing_postgres_database(engine: Engine, exc: DBAPIError) -> bool:
    if engine.url.get_backend_name() != "postgresql":
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == POSTGRES_MISSING_DATABASE or (
        f'database "{engine.url.database}" does not exist' in str(exc.orig)
    )


def create_postgres_database_if_missing(engine: Engine) -> bool:
    """CREATE DATABASE through the server's maintenance database when the target is absent."""
    try:
        with engine.connect():
            return False
    except DBAPIError as exc:
        if not is_missing_postgres_database(engine, exc):
            detail = describe_database_error(engine, exc)
            raise StorageError(f"cannot connect to {detail}") from None
    name = engine.url.database or ""
    admin = create_engine(
        engine.url.set(database=POSTGRES_MAINTENANCE_DATABASE), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    except DBAPIError as exc:
        raise StorageError(
            f"cannot create the database {name!r} on {redact_url(admin.url)}: {error_detail(exc)}"
        ) from None
    finally:
        admin.dispose()
    return True


def require_writable(engine: Engine) -> None:
    """Raise one StorageError line unless the database accepts writes.

    A read-only SQLite file (permissions, `mode=ro`, a read-only mount) opens and even begins
    IMMEDIATE transactions; only the first write fails. So a write that touches no row is
    tried and rolled back. On PostgreSQL it catches read-only transactions and missing rights.
    """
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return  # no schema yet: creating it is the first write and reports any refusal
            try:
                connection.exec_driver_sql("DELETE FROM alembic_version WHERE 1 = 0")
            finally:
                connection.rollback()
    except DBAPIError as exc:
        raise StorageError(
            f"cannot write to {describe_database_error(engine, exc)}; "
            "monitor needs write access to the database (and, for SQLite, to its directory)"
        ) from None
