"""Alembic environment: the URL and engine come from monitor's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from monitor.config import load_settings
from monitor.storage.engine import open_engine, prepare_database
from monitor.storage.schema import Base

target_metadata = Base.metadata


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # monitor's CLI hands its own connection over; plain `alembic` builds one from settings.
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with_connection(connection)
        return
    engine = open_engine(load_settings().database)
    prepare_database(engine)
    with engine.connect() as fresh:
        run_with_connection(fresh)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
