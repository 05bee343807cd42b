"""`monitor fetch`: ingestion cycles."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli.common import (
    ProgressBar,
    config_option,
    echo_json,
    format_option,
    open_database,
    settings_for,
)
from monitor.startup import collection_paused
from monitor.values import FeedCycleResult

if TYPE_CHECKING:
    from monitor.cycle import JobReport

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Run one cycle over the due feeds and exit.")
@click.option("--feed", "feed_url", help="Fetch only this stored feed, due or not.")
@format_option("text", "json")
@click.option("--no-process", is_flag=True, help="Store articles only; embed and tag them later.")
@click.pass_context
def fetch(
    ctx: click.Context, once: bool, feed_url: str | None, output_format: str, no_process: bool
) -> None:
    """Fetch due feeds, store new articles and print a summary of each cycle.

    Without --once, cycles repeat until interrupted (Ctrl-C: the feeds and articles claimed are
    given back, exit status 130). An empty database first gets the feeds of config/feeds.toml.
    """
    with collection_paused() as started:
        run_fetch(ctx, once, feed_url, output_format, no_process, started)


def run_fetch(
    ctx: click.Context,
    once: bool,
    feed_url: str | None,
    output_format: str,
    no_process: bool,
    started: Callable[[], None],
) -> None:
    from monitor.cycle import run_cycles
    from monitor.runtime import open_runtime

    settings = settings_for(ctx)
    bars: list[ProgressBar] = []

    def new_bar() -> Callable[[FeedCycleResult, int, int], None]:
        bars.append(ProgressBar("feeds"))
        return lambda result, done, total: bars[-1].update(done, total, result.url)

    def on_report(job: JobReport) -> None:
        bars[-1].finish()
        report(job, output_format)

    async def run_cycles_on_runtime(sessions: sessionmaker[Session]) -> None:
        async with open_runtime(settings, sessions, process=not no_process) as runtime:
            await run_cycles(runtime, once, feed_url, new_bar, on_report)

    with open_database(settings) as sessions:
        started()
        try:
            asyncio.run(run_cycles_on_runtime(sessions))
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None


def report(job: JobReport, output_format: str) -> None:
    summary, processed, dispatched = job.cycle, job.processed, job.dispatched
    if output_format == "json":
        echo_json(
            {
                **dataclasses.asdict(summary),
                "processing": dataclasses.asdict(processed) if processed else None,
                "alerts": dataclasses.asdict(dispatched),
            }
        )
        return
    click.echo(
        f"feeds: {summary.feeds_due} due, {summary.feeds_ok} ok, "
        f"{summary.feeds_not_modified} not modified, {summary.feeds_failed} failed; "
        f"articles: {summary.new_articles} new, {summary.duplicates} duplicates, "
        f"{summary.entries_dropped} entries dropped; {summary.duration_s:.1f} s"
    )
    for failure in summary.failures:
        click.echo(f"  failed: {failure.url}: {failure.error}")
    if processed:
        click.echo(
            f"processed: {processed.articles} articles, {processed.new_stories} new stories, "
            f"{processed.joined_stories} joined a story, "
            f"{processed.seed_duplicates} seed duplicates, "
            f"{processed.relevant} relevant, {processed.alerts} alerts raised"
        )
    if dispatched.claimed:
        click.echo(
            f"alerts: {dispatched.delivered} delivered, {dispatched.retrying} to retry, "
            f"{dispatched.dead} dead, {dispatched.disabled} disabled"
        )
