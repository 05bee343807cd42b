"""What every command shares: `--config`, settings built once, the database, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, load_settings
from monitor.logs import configure_logging
from monitor.storage.engine import open_engine
from monitor.storage.migrate import require_current_schema

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
        help="Settings file (default: config/monitor.toml, or $MONITOR_CONFIG).",
    )(function)


def settings_for(ctx: click.Context) -> Settings:
    """Load the settings once per invocation and configure logging from them."""
    meta = ctx.find_root().meta
    if "monitor.settings" not in meta:
        settings = load_settings(meta.get("monitor.config_path"))
        configure_logging(settings.logging)
        meta["monitor.settings"] = settings
    settings_value: Settings = meta["monitor.settings"]
    return settings_value


@contextmanager
def open_database(
    settings: Settings, require_schema: bool = True
) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(settings.database)
    try:
        if require_schema:
            require_current_schema(engine)
        yield sessionmaker(engine, expire_on_commit=False)
    finally:
        engine.dispose()


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
