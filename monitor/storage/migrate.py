"""Alembic migrations, run on the application's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from alembic import command
from monitor.errors import StorageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_DIR = PROJECT_ROOT / "alembic"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    run_alembic(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    run_alembic(engine, "downgrade", revision)


def run_alembic(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    except OperationalError as exc:
        raise StorageError(f"cannot migrate {engine.url.render_as_string()}: {exc.orig}") from None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current_schema(engine: Engine) -> None:
    """Raise a StorageError a user can act on when the database is behind the code."""
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise StorageError(f"cannot open the database: {exc.orig}") from None
    if current != head_revision():
        raise StorageError(
            f"the database is at revision {current or 'none'}, the code needs {head_revision()}: "
            "run `monitor db upgrade`"
        )
