"""The `monitor` command line. Commands are thin: open what they need, call the library,
print one summary."""

from __future__ import annotations

import sys

import click

from monitor.cli.alerts import alerts
from monitor.cli.common import config_option
from monitor.cli.db import db
from monitor.cli.feeds import feeds
from monitor.cli.fetch import fetch
from monitor.cli.parse import parse
from monitor.cli.queries import export, matches, search, show, stories
from monitor.cli.service import demo, run
from monitor.cli.tagging import eval_group, rescore, same_story, seeds, tag
from monitor.errors import ConfigError, MonitorError

EXIT_FAILURE = 1
EXIT_CONFIG = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.version_option(package_name="monitor")
def cli() -> None:
    """Monitor news feeds for Russia–Latin America relations."""


cli.add_command(db)
cli.add_command(feeds)
cli.add_command(fetch)
cli.add_command(parse)
cli.add_command(tag)
cli.add_command(same_story)
cli.add_command(eval_group)
cli.add_command(seeds)
cli.add_command(rescore)
cli.add_command(alerts)
cli.add_command(run)
cli.add_command(demo)
for query_command in (matches, stories, show, search, export):
    cli.add_command(query_command)


def main() -> None:
    """Console entry point: expected problems become one line on stderr, never a traceback."""
    try:
        cli.main(prog_name="monitor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"monitor: config error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except MonitorError as exc:
        click.echo(f"monitor: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
