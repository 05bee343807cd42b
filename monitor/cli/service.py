"""`monitor run`: the service; `monitor demo`: the whole product offline."""

from __future__ import annotations

import asyncio

import click

from monitor.cli.common import config_option, open_database, settings_for
from monitor.startup import collection_paused


@click.command()
@config_option
@click.option("--no-api", is_flag=True, help="A pure worker: no HTTP API in this process.")
@click.option("--no-process", is_flag=True, help="Do not embed and tag here (another worker does).")
@click.pass_context
def run(ctx: click.Context, no_api: bool, no_process: bool) -> None:
    """Run the service: poll feeds, process articles, send alerts, prune; stop with SIGTERM.

    An empty database gets the schema first; a read-only one is refused at once. Several
    `monitor run` processes may share one PostgreSQL database: feeds, articles and deliveries
    are claimed, never handled twice.
    """
    with collection_paused() as started:
        from monitor.runtime import LazyEmbedder
        from monitor.service import run_service

        settings = settings_for(ctx)
        with open_database(settings, writable=True) as sessions:
            embedder = LazyEmbedder(settings)
            serve_api = None
            if not no_api:
                from monitor.api.server import api_server

                serve_api = api_server(settings, sessions, embedder)
            started()
            asyncio.run(run_service(settings, sessions, not no_process, serve_api, embedder))


@click.command()
@config_option
@click.pass_context
def demo(ctx: click.Context) -> None:
    """The whole product offline: sample feeds on 127.0.0.1, the real service over them in a
    temporary database, the alerts a local webhook sink receives, then stories and matches."""
    from monitor.demo.run import run_demo

    run_demo(click.echo, settings_for(ctx).embedding)
