"""An empty database gets the models' schema stamped at head instead of every migration run in
turn (`migrate.upgrade`); that schema must be the one the migrations build, on both databases,
and the migrations must go on from it (down to base and up again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text

from monitor.storage import migrate
from monitor.storage.engine import open_engine, prepare_database
from tests.conftest import SettingsFactory


def describe_schema(engine: Engine) -> dict[str, Any]:
    """Everything the inspector reports of each table, in an order-free form."""
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = {
            column["name"]: (
                str(column["type"]),
                column["nullable"],
                str(column.get("default")),
                bool(column.get("autoincrement")) if engine.dialect.name == "postgresql" else None,
            )
            for column in inspector.get_columns(table)
        }
        schema[table] = {
            "columns": columns,
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (
                    fk["name"] or "",
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    tuple(sorted((fk.get("options") or {}).items())),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (
                    index["name"] or "",
                    tuple(str(c) for c in index["column_names"]),
                    bool(index["unique"]),
                    str(sorted((index.get("dialect_options") or {}).items())),
                )
                for index in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"] or "", " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(table)
            ),
        }
    return schema


def test_created_schema_equals_the_migrated_one(
    database_url: str, make_settings: SettingsFactory
) -> None:
    engine = open_engine(make_settings(database={"url": database_url}).database)
    try:
        prepare_database(engine)
        migrate.run_alembic(engine, "upgrade", "head")  # every migration, in turn
        migrated = describe_schema(engine)
        migrate.run_alembic(engine, "downgrade", "base")
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
        assert not inspect(engine).get_table_names()

        migrate.upgrade(engine)  # empty: the models' schema, stamped
        assert migrate.current_revision(engine) == migrate.head_revision()
        created = describe_schema(engine)
        assert set(created) == set(migrated)
        for table in migrated:
            assert created[table] == migrated[table], table

        # The migrations go on from the stamped schema: down to base and up again.
        migrate.downgrade(engine, "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        migrate.upgrade(engine)
        assert describe_schema(engine) == migrated
    finally:
        engine.dispose()


def test_upgrade_of_a_current_database_changes_nothing(
    database_url: str, make_settings: SettingsFactory
) -> None:
    engine = open_engine(make_settings(database={"url": database_url}).database)
    try:
        migrate.upgrade(engine)
        before = describe_schema(engine)
        migrate.upgrade(engine)
        assert describe_schema(engine) == before
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
