"""What every command shares: `--config`, settings built once, the database, output helpers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # sqlalchemy and pydantic load only when a command needs them (`--help` is fast)
    from sqlalchemy.orm import Session, sessionmaker

    from monitor.config import Settings

log = logging.getLogger(__name__)
ANNOUNCING = frozenset({"run"})  # commands whose log starts with the settings file and database
F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    """`--format` with the given choices; the first is the default."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
    )


def input_option(help_text: str) -> Callable[[F], F]:
    """A required `--input FILE`."""
    return click.option(
        "--input",
        "input_path",
        required=True,
        help=help_text,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
    )


OUTPUT_OPTION = click.option(
    "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout."
)


def remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_root().meta["monitor.config_path"] = value


def config_option(function: F) -> F:
    """`--config PATH`, accepted before or after the sub-command."""
    return click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        is_eager=True,
        callback=remember_config,
        help="Settings file (default: $MONITOR_CONFIG, else ./config/monitor.toml, else "
        "~/.config/monitor/monitor.toml, else built-in defaults).",
    )(function)


def settings_for(ctx: click.Context) -> Settings:
    """Load the settings once per invocation and configure logging from them."""
    from monitor.config import find_config_file, read_settings
    from monitor.logs import configure_logging

    meta = ctx.find_root().meta
    if "monitor.settings" not in meta:
        path = find_config_file(meta.get("monitor.config_path"))
        settings = read_settings(path)
        configure_logging(settings.logging)
        meta["monitor.settings"] = settings
        meta["monitor.config_in_use"] = path
        # The service's start-up log names the file and the database; other commands stay quiet.
        level = logging.INFO if ctx.find_root().invoked_subcommand in ANNOUNCING else logging.DEBUG
        log.log(level, "settings loaded", extra=describe_origin(path, settings))
    settings_value: Settings = meta["monitor.settings"]
    return settings_value


def config_in_use(ctx: click.Context) -> Path | None:
    """The settings file this invocation read (None: built-in defaults); after `settings_for`."""
    settings_for(ctx)
    path: Path | None = ctx.find_root().meta["monitor.config_in_use"]
    return path


def describe_origin(path: Path | None, settings: Settings) -> dict[str, str]:
    """`{"config": file or "built-in defaults", "database": URL without password}` for a log line
    (e.g. the service's start-up line: `log.info("service started", extra=...)`)."""
    from monitor.config import BUILT_IN_DEFAULTS
    from monitor.storage.engine import redact_url, sqlite_path

    database = redact_url(settings.database.url)
    file = sqlite_path(settings.database.url)
    return {
        "config": str(path.absolute()) if path else BUILT_IN_DEFAULTS,
        "database": f"sqlite:///{file}" if file and "?" not in database else database,
    }


@contextmanager
def open_database(
    settings: Settings, require_schema: bool = True, writable: bool = True
) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, once it passed the checks of
    `monitor.storage.database.open_checked_engine` (damage, schema, write access)."""
    from sqlalchemy.orm import sessionmaker

    from monitor.storage.database import open_checked_engine

    with open_checked_engine(settings.database, require_schema, writable) as engine:
        yield sessionmaker(engine, expire_on_commit=False)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=json_default, indent=2))


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


class ProgressBar:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    WIDTH = 30

    def __init__(self, label: str) -> None:
        self.label = label
        self.visible = sys.stderr.isatty()
        self.drawn = False

    def update(self, done: int, total: int, detail: str = "") -> None:
        if not self.visible:
            return
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        click.echo(f"\r{self.label} [{bar}] {done}/{total} {detail[:50]:50}", err=True, nl=False)
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            click.echo("", err=True)
