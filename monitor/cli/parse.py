"""`monitor parse`: parse local feed files and show what ingestion would keep and drop."""

from __future__ import annotations

import json
from pathlib import Path

import click

from monitor.cli.common import config_option, settings_for
from monitor.clock import utc_now
from monitor.values import ParsedEntry, ParsedFeed


@click.command()
@config_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="One JSON object per kept entry on stdout.",
)
@click.option("--base-url", help="Resolve relative links against this URL.")
@click.pass_context
def parse(
    ctx: click.Context, files: tuple[Path, ...], output_format: str, base_url: str | None
) -> None:
    """Parse feed FILES; print kept entries, report dropped ones and malformed feeds on stderr.

    Malformed feeds are data, not usage errors: the exit status stays 0.
    """
    from monitor.parsers import ParserPool, explain_parse_failure  # loads feedparser and numpy

    settings = settings_for(ctx)
    with ParserPool(settings.parse) as parsers:
        options = parsers.options(utc_now(), None)
        futures = [
            (path, parsers.submit(path.read_bytes(), {}, base_url, options)) for path in files
        ]
        for path, future in futures:
            try:
                parsed = future.result()
            except Exception as exc:
                failure = explain_parse_failure(exc, settings.parse.time_budget_s)
                click.echo(f"{path}: feed skipped: {failure}", err=True)
                continue
            for entry in parsed.entries:
                click.echo(json.dumps(entry_record(path, entry), ensure_ascii=False))
            report_dropped(path, parsed, settings.parse.max_entries_per_feed)


def report_dropped(path: Path, parsed: ParsedFeed, max_entries: int) -> None:
    for dropped in parsed.dropped:
        hint = f" ({dropped.hint})" if dropped.hint else ""
        click.echo(f"{path}: entry {dropped.index} dropped: {dropped.reason}{hint}", err=True)
    if parsed.entries_cut:
        click.echo(
            f"{path}: {parsed.entries_cut:,} entries after the first {max_entries:,} not read "
            "(over the cap of entries per feed)",
            err=True,
        )


def entry_record(path: Path, entry: ParsedEntry) -> dict[str, object]:
    return {
        "source": str(path),
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "lang": entry.language,
        "published": entry.published_at.isoformat(),
    }
