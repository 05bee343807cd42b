"""`monitor feeds …`: the feed list and its health."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from monitor.cli.common import (
    config_option,
    echo_json,
    format_option,
    open_database,
    render_table,
    settings_for,
    short_time,
)
from monitor.feedlist import read_opml, write_opml
from monitor.ingest import utc_now
from monitor.storage.feeds import add_feeds, get_feed, list_feeds, remove_feed
from monitor.values import FeedRecord, FeedSpec


@click.group()
def feeds() -> None:
    """List, add, remove, import and export feeds."""


@feeds.command("list")
@config_option
@format_option("table", "json")
@click.pass_context
def list_command(ctx: click.Context, output_format: str) -> None:
    """Show every feed with its health: last status, failures, next poll, disabled reason."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        records = list_feeds(session)
    if output_format == "json":
        echo_json([dataclasses.asdict(record) for record in records])
        return
    click.echo(
        render_table(
            ["id", "name", "lang", "status", "fails", "next poll (UTC)", "problem", "url"],
            [health_row(record) for record in records],
        )
    )


def health_row(feed: FeedRecord) -> list[object]:
    status = "disabled" if not feed.enabled else (feed.last_status or "new")
    problem = feed.disabled_reason or feed.last_error or ""
    return [
        feed.id,
        (feed.name or "")[:28],
        feed.language or "-",
        status,
        feed.consecutive_failures,
        short_time(feed.next_poll_at) if feed.enabled else "-",
        problem[:48],
        feed.url,
    ]


@feeds.command()
@config_option
@click.argument("url")
@click.option("--name", help="Display name (default: the feed's own title).")
@click.option("--language", help="ISO 639-1 code of the feed's articles, e.g. es.")
@click.option(
    "--interval", "interval_s", type=click.IntRange(min=30), help="Poll interval, seconds."
)
@click.pass_context
def add(
    ctx: click.Context, url: str, name: str | None, language: str | None, interval_s: int | None
) -> None:
    """Add the feed at URL; it is due for polling at once."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    settings = settings_for(ctx)
    spec = FeedSpec(url=url, name=name, language=language, poll_interval_s=interval_s)
    with open_database(settings) as sessions, sessions.begin() as session:
        added = add_feeds(session, [spec], settings.fetch.default_poll_interval_s, utc_now())
    click.echo(f"added {url}" if added else f"already present: {url}")


@feeds.command()
@config_option
@click.argument("url")
@click.pass_context
def remove(ctx: click.Context, url: str) -> None:
    """Remove the feed at URL with its stored articles and fetch log."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        removed = remove_feed(session, url)
    if not removed:
        raise click.ClickException(f"no such feed: {url}")
    click.echo(f"removed {url}")


@feeds.command("import-opml")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_opml(ctx: click.Context, file: Path) -> None:
    """Add every feed listed in an OPML FILE (known URLs are skipped)."""
    settings = settings_for(ctx)
    specs = read_opml(file.read_bytes(), str(file))
    with open_database(settings) as sessions, sessions.begin() as session:
        added = add_feeds(session, specs, settings.fetch.default_poll_interval_s, utc_now())
    click.echo(f"{len(specs)} feeds in {file}: {len(added)} added, {len(specs) - len(added)} known")


@feeds.command("export-opml")
@config_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout.")
@click.pass_context
def export_opml(ctx: click.Context, output: Path | None) -> None:
    """Write the feed list as OPML 2.0."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        document = write_opml(list_feeds(session))
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")


@feeds.command()
@config_option
@click.argument("url")
@click.pass_context
def show(ctx: click.Context, url: str) -> None:
    """Print one feed's full state as JSON."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        record = get_feed(session, url)
    if record is None:
        raise click.ClickException(f"no such feed: {url}")
    echo_json(dataclasses.asdict(record))
