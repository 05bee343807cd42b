"""`monitor db …`: schema migrations."""

from __future__ import annotations

import click

from monitor.cli.common import config_option, open_database, settings_for
from monitor.storage import migrate
from monitor.storage.engine import open_engine


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command()
@config_option
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (creates the database if needed)."""
    engine = open_engine(settings_for(ctx).database)
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
    with open_database(settings_for(ctx), require_schema=False) as sessions:
        revision = migrate.current_revision(sessions.kw["bind"])
    click.echo(f"database: {revision or 'none'}  code: {migrate.head_revision()}")
