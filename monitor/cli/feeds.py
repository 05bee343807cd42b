"""`monitor feeds …`: the feed list and its health.

`feeds add` checks the URL first (monitor.feedcheck): an address the SSRF guard refuses is a
configuration error (exit 2, nothing added); an HTML page offers the feeds it links to (and
`--discover` adds the first); a URL that cannot be reached now (no network yet, DNS down, a
server error) is added anyway with a warning, since the fetcher retries it on schedule.
"""

from __future__ import annotations

import asyncio
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
from monitor.clock import utc_now
from monitor.errors import MonitorError
from monitor.feedlist import read_opml, write_opml
from monitor.limits import (
    MAX_FEED_NAME_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_URL_CHARS,
    describe_overflow,
)
from monitor.storage.feeds import (
    add_feeds,
    enable_feed,
    get_feed,
    list_feeds,
    poll_feed_now,
    remove_feed,
)
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
@click.option("--discover", is_flag=True, help="URL is a web page: add the first feed it names.")
@click.pass_context
def add(
    ctx: click.Context,
    url: str,
    name: str | None,
    language: str | None,
    interval_s: int | None,
    discover: bool,
) -> None:
    """Add the feed at URL; it is due for polling at once.

    The URL is fetched first: an address the SSRF guard refuses is an error (see
    [network] allow_cidrs); a web page lists the feeds it names instead (--discover adds the
    first); a URL that cannot be reached now is added anyway, with a warning.
    """
    require_feed_values(url, name, language)
    settings = settings_for(ctx)
    with open_database(settings) as sessions:
        with sessions.begin() as session:
            if get_feed(session, url) is not None:
                click.echo(f"already present: {url}")
                return
        from monitor.feedcheck import check_discovered_url, check_feed_url

        check = asyncio.run(check_feed_url(url, settings.network))
        if check.page_feeds is not None:
            url = choose_discovered_feed(url, check.page_feeds, discover)
            check = asyncio.run(check_discovered_url(url, settings.network))
        if check.warning:
            click.echo(f"warning: {check.warning}; added anyway, the fetcher will retry", err=True)
        spec = FeedSpec(url=url, name=name, language=language, poll_interval_s=interval_s)
        with sessions.begin() as session:
            added = add_feeds(session, [spec], settings.fetch.default_poll_interval_s, utc_now())
    click.echo(f"added {url}" if added else f"already present: {url}")


def require_feed_values(url: str, name: str | None, language: str | None) -> None:
    """What a user types must fit the feed's columns (monitor.limits)."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    for value, hint, max_chars in (
        (url, "URL", MAX_URL_CHARS),
        (name, "--name", MAX_FEED_NAME_CHARS),
        (language, "--language", MAX_LANGUAGE_CHARS),
    ):
        if value is not None and len(value) > max_chars:
            raise click.BadParameter(
                describe_overflow("it", len(value), max_chars), param_hint=hint
            )


def choose_discovered_feed(url: str, found: tuple[FeedSpec, ...], discover: bool) -> str:
    """With --discover, the page's first feed; otherwise list them and add nothing."""
    if not found:
        raise MonitorError(f"{url} is an HTML page that names no feed: nothing added")
    if discover:
        click.echo(f"{url} is an HTML page; adding the first feed it names")
        return found[0].url
    click.echo(f"{url} is an HTML page, not a feed. It names:")
    for spec in found:
        click.echo(f"  {spec.url}" + (f"  ({spec.name})" if spec.name else ""))
    raise MonitorError(
        "nothing added: add one of these URLs, or run again with --discover to add the first"
    )


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


@feeds.command()
@config_option
@click.argument("url")
@click.pass_context
def enable(ctx: click.Context, url: str) -> None:
    """Re-enable the feed at URL (after it was disabled); its articles and fetch log stay."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        if not enable_feed(session, url, utc_now()):
            raise MonitorError(f"no such feed: {url}")
    click.echo(f"enabled {url}: due now, failure count cleared")


@feeds.command()
@config_option
@click.argument("url")
@click.pass_context
def poll(ctx: click.Context, url: str) -> None:
    """Make the feed at URL due now: the next fetch cycle polls it."""
    with open_database(settings_for(ctx)) as sessions, sessions.begin() as session:
        if not poll_feed_now(session, url, utc_now()):
            raise MonitorError(f"no such feed: {url}")
        feed = get_feed(session, url)
    if feed is not None and not feed.enabled:
        raise MonitorError(f"{url} is disabled ({feed.disabled_reason}): `monitor feeds enable` it")
    click.echo(f"{url} is due now")


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
