"""`monitor db …`: schema migrations, integrity checks and backups."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.common import config_option, open_database, settings_for
from monitor.errors import StorageError
from monitor.storage import migrate
from monitor.storage.engine import (
    check_sqlite_header,
    libpq_url,
    open_engine,
    redact_url,
    sqlite_path,
)
from monitor.storage.integrity import INTEGRITY_OK, backup_sqlite, check_integrity

EXIT_DAMAGED = 1


@click.group()
def db() -> None:
    """Create, migrate, check and back up the database."""


@db.command()
@config_option
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (creates the database if needed).

    Creates the SQLite file and its directory, or the PostgreSQL database (through the
    server's `postgres` database, so the user needs the CREATEDB right).
    """
    settings = settings_for(ctx)
    path = sqlite_path(settings.database.url)
    if path is not None:
        check_sqlite_header(path)
    engine = open_engine(settings.database)
    try:
        migrate.upgrade(engine)
        click.echo(f"database at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@db.command()
@config_option
@click.argument("revision")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Revert migrations down to REVISION (`base` removes every table)."""
    with open_database(settings_for(ctx), require_schema=False) as sessions:
        engine = sessions.kw["bind"]
        migrate.downgrade(engine, revision)
        click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db.command()
@config_option
@click.pass_context
def current(ctx: click.Context) -> None:
    """Print the database's revision and the code's."""
    settings = settings_for(ctx)
    path = sqlite_path(settings.database.url)
    if path is not None and not path.exists():
        click.echo(f"database: none (no file at {path})  code: {migrate.head_revision()}")
        return
    with open_database(settings, require_schema=False, writable=False) as sessions:
        revision = migrate.current_revision(sessions.kw["bind"])
    click.echo(f"database: {revision or 'none'}  code: {migrate.head_revision()}")


@db.command()
@config_option
@click.option("--quick", is_flag=True, help="PRAGMA quick_check: faster, skips index contents.")
@click.pass_context
def check(ctx: click.Context, quick: bool) -> None:
    """Check the SQLite file page by page (PRAGMA integrity_check), without writing to it.

    Prints `ok` and exits 0, or prints each problem found and exits 1.
    """
    url = settings_for(ctx).database.url
    path = sqlite_path(url)
    if path is None:
        raise StorageError(
            f"{redact_url(url)} is not an SQLite file; PostgreSQL checks its own pages "
            "(see `pg_amcheck`)"
        )
    problems = check_integrity(path, quick=quick)
    if problems == [INTEGRITY_OK]:
        click.echo(f"{path}: ok")
        return
    for problem in problems:
        click.echo(f"{path}: {problem}")
    click.echo(
        f"{path} is damaged: restore a backup, or try `sqlite3 {path} .recover` into a new file",
        err=True,
    )
    ctx.exit(EXIT_DAMAGED)


@db.command()
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    """Copy the SQLite database to TARGET while the service may keep running.

    Uses SQLite's online backup API (a consistent snapshot; never writes to the source). To
    restore, stop monitor and put the copy in the database file's place. For PostgreSQL it
    prints the `pg_dump` command to use instead.
    """
    url = settings_for(ctx).database.url
    path = sqlite_path(url)
    if path is None:
        raise StorageError(
            f"back up PostgreSQL with pg_dump: pg_dump --format=custom --file {target} "
            f"'{libpq_url(url)}'"
        )
    check_sqlite_header(path)
    pages = backup_sqlite(path, target)
    click.echo(f"backed up {path} to {target} ({pages} pages)")
