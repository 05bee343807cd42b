"""`monitor config show`: which settings file is in use, the database, every effective setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import (
    config_in_use,
    config_option,
    describe_origin,
    echo_json,
    format_option,
    settings_for,
)
from monitor.config import Settings
from monitor.storage.engine import redact_url


@click.group()
def config() -> None:
    """Show which settings are in use."""


@config.command()
@config_option
@format_option("toml", "json")
@click.pass_context
def show(ctx: click.Context, output_format: str) -> None:
    """Print the settings file in use (or "built-in defaults"), the database (without its
    password) and every effective setting, the environment's overrides applied.

    The TOML output is itself a valid settings file. Relative paths in it are relative to the
    current directory, which is printed too.
    """
    settings = settings_for(ctx)
    origin = describe_origin(config_in_use(ctx), settings)
    values = effective_settings(settings)
    if output_format == "json":
        echo_json({**origin, "working_directory": str(Path.cwd()), "settings": values})
        return
    click.echo(f"# config: {origin['config']}")
    click.echo(f"# database: {origin['database']}")
    click.echo(f"# relative paths are relative to the current directory: {Path.cwd()}\n")
    click.echo(render_toml(values))


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting as plain TOML/JSON values, under the file's key names, password removed."""
    values: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)
    values["database"]["url"] = redact_url(settings.database.url)
    return values


def render_toml(sections: dict[str, dict[str, Any]]) -> str:
    """Sections of scalars, lists of scalars and lists of tables, as `config/monitor.toml` is."""
    blocks = []
    for name, section in sections.items():
        scalars = {k: v for k, v in section.items() if not is_table_list(v)}
        lines = [f"[{name}]", *(f"{key} = {toml_value(v)}" for key, v in scalars.items())]
        for key, tables in section.items():
            if is_table_list(tables):
                for table in tables:
                    lines += ["", f"[[{name}.{key}]]"]
                    lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def toml_value(value: Any) -> str:
    """JSON's strings, numbers, booleans and arrays are TOML's too."""
    return json.dumps(value, ensure_ascii=False)
