"""The `monitor` command line. Commands are thin: open what they need, call the library,
print one summary.

The root group is lazy: it knows each command's name, module and one-line help, and imports a
module only when its command runs, so `monitor --help` imports none of them (sqlalchemy, numpy,
the model and FastAPI load only in the commands that need them).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

import click

from monitor.cli.common import config_option
from monitor.errors import ConfigError, MonitorError

EXIT_FAILURE = 1
EXIT_CONFIG = 2


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a top-level command lives, and the help `monitor --help` shows for it."""

    module: str
    attribute: str
    short_help: str


COMMANDS: dict[str, LazyCommand] = {
    "config": LazyCommand("monitor.cli.config", "config", "Show which settings are in use."),
    "db": LazyCommand("monitor.cli.db", "db", "Create, migrate, check and back up the database."),
    "feeds": LazyCommand(
        "monitor.cli.feeds", "feeds", "List, add, remove, import and export feeds."
    ),
    "fetch": LazyCommand(
        "monitor.cli.fetch",
        "fetch",
        "Fetch due feeds, store new articles and print a summary of each cycle.",
    ),
    "parse": LazyCommand(
        "monitor.cli.parse",
        "parse",
        "Parse feed FILES; print kept entries, report dropped ones and malformed feeds on stderr.",
    ),
    "tag": LazyCommand(
        "monitor.cli.tagging", "tag", "Tag items for Russia–Latin America relevance."
    ),
    "same-story": LazyCommand(
        "monitor.cli.stories_eval",
        "same_story",
        "Decide whether two items report the same event and thread: {id, same_event, …}.",
    ),
    "eval": LazyCommand(
        "monitor.cli.stories_eval",
        "eval_group",
        "Measure tagging and same-story decisions on labelled files.",
    ),
    "thread": LazyCommand(
        "monitor.cli.stories_eval",
        "thread",
        "A developing story (thread) with its events, oldest first.",
    ),
    "seeds": LazyCommand(
        "monitor.cli.tagging",
        "seeds",
        "List, add and remove seed articles (the reference corpus).",
    ),
    "rescore": LazyCommand(
        "monitor.cli.tagging",
        "rescore",
        "Recompute stored matches from stored vectors after seeds, gazetteer or weights change.",
    ),
    "alerts": LazyCommand("monitor.cli.alerts", "alerts", "List, retry and test alert deliveries."),
    "run": LazyCommand(
        "monitor.cli.service",
        "run",
        "Run the service: poll feeds, process articles, send alerts, prune; stop with SIGTERM.",
    ),
    "demo": LazyCommand(
        "monitor.cli.service",
        "demo",
        "The whole product offline: sample feeds on 127.0.0.1, the real service over them in a "
        "temporary database, the alerts a local webhook sink receives, then stories and matches.",
    ),
    "matches": LazyCommand(
        "monitor.cli.queries",
        "matches",
        "Relevant matches, newest first (filters: --since 24h --country VE --topic energy …).",
    ),
    "stories": LazyCommand(
        "monitor.cli.queries",
        "stories",
        "Stories, newest first, with outlets count and languages.",
    ),
    "show": LazyCommand(
        "monitor.cli.queries",
        "show",
        "One match: a readable summary, or with --format json the full record "
        "(match, article, story).",
    ),
    "search": LazyCommand(
        "monitor.cli.queries",
        "search",
        "Semantic search: matches whose articles mean something close to TEXT "
        "(relevant ones unless --all).",
    ),
    "export": LazyCommand(
        "monitor.cli.queries",
        "export",
        "Every match (relevant only unless --all) as JSON lines or CSV.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, listed from `COMMANDS` without it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        entry = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(entry.module), entry.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.module}.{entry.attribute} is not a click command")
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self.short_help_for(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def short_help_for(self, ctx: click.Context, name: str, limit: int) -> str:
        if name in COMMANDS:
            # A bare command holding the help text truncates it exactly as click would.
            return click.Command(name, help=COMMANDS[name].short_help).get_short_help_str(limit)
        command = self.commands[name]
        return command.get_short_help_str(limit)


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`monitor --version`: the version, the settings file in use and the database."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from monitor.cli.common import config_in_use, describe_origin, settings_for

    click.echo(f"monitor {version('monitor')}")
    origin = describe_origin(config_in_use(ctx), settings_for(ctx))
    click.echo(f"config: {origin['config']}\ndatabase: {origin['database']}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="Show the version, the settings file and the database in use, and exit.",
)
def cli() -> None:
    """Monitor news feeds for Russia–Latin America relations."""


def main() -> None:
    """Console entry point: expected problems become one line on stderr, never a traceback."""
    try:
        status = cli.main(prog_name="monitor", standalone_mode=False)
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
    # Without standalone mode, click returns a command's `ctx.exit(code)` instead of exiting.
    if isinstance(status, int) and not isinstance(status, bool) and status:
        sys.exit(status)
