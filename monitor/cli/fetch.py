"""`monitor fetch`: ingestion cycles."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import click

from monitor.cli.common import config_option, echo_json, open_database, settings_for
from monitor.values import CycleSummary, FeedCycleResult
from workers.ingest import run_ingest_job


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Run one cycle over the due feeds and exit.")
@click.option("--feed", "feed_url", help="Fetch only this stored feed, due or not.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.pass_context
def fetch(ctx: click.Context, once: bool, feed_url: str | None, output_format: str) -> None:
    """Fetch due feeds, store new articles and print a summary of each cycle.

    Without --once, cycles repeat until interrupted (Ctrl-C). An empty database first gets
    the feeds of config/feeds.toml.
    """
    settings = settings_for(ctx)
    bars: list[ProgressBar] = []

    def new_bar() -> ProgressBar:
        bars.append(ProgressBar())
        return bars[-1]

    def on_cycle(summary: CycleSummary) -> None:
        bars[-1].finish()
        report(summary, output_format)

    with open_database(settings) as sessions:
        try:
            asyncio.run(run_ingest_job(settings, sessions, once, feed_url, new_bar, on_cycle))
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


class ProgressBar:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    WIDTH = 30

    def __init__(self) -> None:
        self.visible = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, result: FeedCycleResult, done: int, total: int) -> None:
        if not self.visible:
            return
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        click.echo(f"\r[{bar}] {done}/{total} {result.url[:50]:50}", err=True, nl=False)
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            click.echo("", err=True)


def report(summary: CycleSummary, output_format: str) -> None:
    if output_format == "json":
        echo_json(dataclasses.asdict(summary))
        return
    click.echo(
        f"feeds: {summary.feeds_due} due, {summary.feeds_ok} ok, "
        f"{summary.feeds_not_modified} not modified, {summary.feeds_failed} failed; "
        f"articles: {summary.new_articles} new, {summary.duplicates} duplicates, "
        f"{summary.entries_dropped} entries dropped; {summary.duration_s:.1f} s"
    )
    for failure in summary.failures:
        click.echo(f"  failed: {failure.url}: {failure.error}")
