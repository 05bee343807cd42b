"""Alembic migrations, shipped inside the package and run on the application's own engine.

Alembic itself (slow to import: it loads every dialect's DDL) is imported only to migrate;
checking whether a database is current reads `alembic_version` and the revision files directly,
so an ordinary command starts fast. `upgrade` to head imports it only when there is something to
migrate: a database already at head is left as it is, and an empty one gets the schema of the
models in one transaction, stamped with the head revision (the same schema the migrations build,
which tests/test_migrations_fresh.py compares on both databases; running every migration took
a quarter of a second of a fresh start).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Engine, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.exc import DBAPIError

from monitor.errors import StorageError
from monitor.storage.engine import describe_database_error, prepare_database

if TYPE_CHECKING:
    from alembic.config import Config

# monitor/migrations/ (env.py, script.py.mako, versions/) is package data: a wheel carries it.
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate up; a missing SQLite directory or PostgreSQL database is created first. To head,
    an empty database gets the models' schema stamped at head, and one at head is left alone
    (neither imports alembic)."""
    prepare_database(engine)
    if revision in ("head", head_revision()):
        try:
            if create_schema_if_empty(engine) or current_revision(engine) == head_revision():
                return
        except DBAPIError as exc:
            raise StorageError(f"cannot migrate {describe_database_error(engine, exc)}") from None
    run_alembic(engine, "upgrade", revision)


def version_table() -> Table:
    """`alembic_version` as alembic itself creates it."""
    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


def create_schema_if_empty(engine: Engine) -> bool:
    """Create the models' tables, recorded at the head revision, in a database with no tables
    at all; False (nothing done) when it has any. One transaction (SQLite and PostgreSQL both
    roll DDL back; on SQLite it holds the write lock from its start, so two processes starting
    on one new file do not both create)."""
    from monitor.storage.schema import Base

    table = version_table()
    with engine.begin() as connection:
        if inspect(connection).get_table_names():
            return False
        Base.metadata.create_all(connection)
        table.create(connection)
        connection.execute(table.insert().values(version_num=head_revision()))
    return True


def downgrade(engine: Engine, revision: str) -> None:
    run_alembic(engine, "downgrade", revision)


def run_alembic(engine: Engine, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    except DBAPIError as exc:
        raise StorageError(f"cannot migrate {describe_database_error(engine, exc)}") from None


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database; None when it has never been migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@cache
def revision_graph() -> dict[str, tuple[str, ...]]:
    """Each revision in versions/ and the revisions it follows, read from the files' source."""
    files = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
    return dict(read_revision_file(path) for path in files)


def read_revision_file(path: Path) -> tuple[str, tuple[str, ...]]:
    """`revision` and `down_revision` of one migration file, without importing it."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            name, value = node.target.id, node.value
        else:
            continue
        if name in ("revision", "down_revision"):
            values[name] = ast.literal_eval(value)
    down = values.get("down_revision")
    parents = down if isinstance(down, tuple | list) else (down,) if down else ()
    return str(values["revision"]), tuple(str(parent) for parent in parents)


def head_revision() -> str | None:
    """The newest revision: the one no other revision follows."""
    graph = revision_graph()
    followed = {parent for parents in graph.values() for parent in parents}
    heads = sorted(set(graph) - followed)
    return heads[0] if heads else None


def is_known_revision(revision: str) -> bool:
    return revision in revision_graph()


def has_no_tables(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def require_current_schema(engine: Engine) -> None:
    """Raise a StorageError a user can act on when the database is behind (or ahead of) the code."""
    try:
        current = current_revision(engine)
    except DBAPIError as exc:
        raise StorageError(f"cannot open {describe_database_error(engine, exc)}") from None
    head = head_revision()
    if current == head:
        return
    if current is not None and not is_known_revision(current):
        raise StorageError(
            f"the database is at revision {current}, newer than this code's {head}: "
            "install the newer monitor that migrated it"
        )
    raise StorageError(
        f"the database is at revision {current or 'none'}, the code needs {head}: "
        "run `monitor db upgrade`"
    )


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database (no tables at all); refuse any other mismatch.

    A database at an older revision is left for `monitor db upgrade`: migrating data is a step
    the user takes knowingly (after a backup), creating tables in an empty one is not.
    """
    try:
        empty = has_no_tables(engine)
    except DBAPIError as exc:
        raise StorageError(f"cannot open {describe_database_error(engine, exc)}") from None
    if empty:
        upgrade(engine)
        return
    require_current_schema(engine)
