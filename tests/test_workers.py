"""workers/ holds only thin module entry points onto the `monitor` command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("module", "option"), [("workers.service", "--no-process"), ("workers.ingest", "--once")]
)
def test_module_entry_point_runs_the_command(module: str, option: str) -> None:
    """`python -m workers.service` is `monitor run --no-api`, `workers.ingest` `monitor fetch`."""
    run = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert option in run.stdout
