"""`monitor demo` runs the whole product offline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import DEFAULT_PROCESSES_ENV, PROJECT_ROOT


@pytest.mark.slow
def test_demo_shows_alerts_stories_and_matches() -> None:
    """The demo prints signed alerts, a four-language story and relevant matches, counts
    outlets in words ("1 outlet", "4 outlets"), and exits 0."""
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **DEFAULT_PROCESSES_ENV},  # the shipped encoder child processes
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    alerts = [line for line in out.splitlines() if "ALERT" in line]
    assert [line.split()[1] for line in alerts].count("match.created") == 4, out
    assert [line.split()[1] for line in alerts].count("story.updated") == 1, out
    assert "4 outlets [en, es, pt, ru]" in out
    assert "1 outlet, languages pt;" in out and "outlet(s)" not in out
    relevant = [line for line in out.splitlines() if line.strip().startswith("RELEVANT")]
    assert len(relevant) == 10
    assert not any(
        trap in line
        for line in relevant
        for trap in ("Mark Cuban", "New Mexico", "Колумбия", "получили")
    )
