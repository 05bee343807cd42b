"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from monitor.config import DatabaseSettings
from monitor.errors import ConfigError


def open_engine(settings: DatabaseSettings) -> Engine:
    """Create the engine named by the settings; SQLite gets its pragmas and IMMEDIATE writes."""
    try:
        url = make_url(settings.url)
    except ArgumentError:
        raise ConfigError(f"database.url: not a database URL: {settings.url!r}") from None
    if url.get_backend_name() != "sqlite":
        return create_engine(url, echo=settings.echo, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=settings.echo)
    configure_sqlite(engine, settings.busy_timeout_ms)
    return engine


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, busy timeout, foreign keys, and `BEGIN IMMEDIATE` for every transaction.

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

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
