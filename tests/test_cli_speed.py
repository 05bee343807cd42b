"""The command line starts fast: heavy libraries load only in the commands that need them.

An import check, not a timed test (timings depend on the machine; the README quotes measured
figures). Each case runs the real entry point in a fresh interpreter and reads `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import COMMANDS

HEAVY = ("numpy", "torch", "fastapi", "uvicorn", "sentence_transformers")
PROBE = """
import json, sys
from monitor.cli import main
sys.argv = ["monitor", *json.loads(sys.argv[1])]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print("PROBE " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_modules(cwd: Path, *args: str) -> list[str]:
    """Run `monitor ARGS` in a new interpreter; the modules it had imported when it finished."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    probe = json.loads(run.stdout.rsplit("PROBE ", 1)[1])
    assert probe["code"] == 0, run.stderr
    modules: list[str] = probe["modules"]
    return modules


def heavy_in(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in HEAVY]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "speed.db"}"\n')
    return path


class TestStartUpImports:
    def test_help_imports_no_command_module(self, tmp_path: Path) -> None:
        """`monitor --help` imports no command module, no database layer, nothing heavy."""
        modules = loaded_modules(tmp_path, "--help")
        commands = {entry.module for entry in COMMANDS.values()}
        assert [m for m in modules if m in commands] == []
        assert heavy_in(modules) == []
        assert "sqlalchemy" not in modules

    def test_feeds_list_on_an_empty_database(self, tmp_path: Path, config: Path) -> None:
        """`monitor feeds list` (creating the schema of an empty database) imports nothing heavy
        and not alembic once the schema is current."""
        assert heavy_in(loaded_modules(tmp_path, "--config", str(config), "feeds", "list")) == []
        again = loaded_modules(tmp_path, "--config", str(config), "feeds", "list")
        assert heavy_in(again) == [] and "alembic" not in again

    @pytest.mark.parametrize("name", sorted(COMMANDS))
    def test_command_help_imports_nothing_heavy(self, tmp_path: Path, name: str) -> None:
        """`monitor COMMAND --help` imports the command's module but none of the heavy libraries
        at module level."""
        assert heavy_in(loaded_modules(tmp_path, name, "--help")) == []
