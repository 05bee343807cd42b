"""The alert outbox's layering, checked from the source: storage never imports alerts, alerts
never builds SQL, and the status strings storage writes are the enums' values."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.values import AlertStatus, AlertType, AttemptResult, DeliveryStatus
from tests.conftest import PROJECT_ROOT

STORAGE = PROJECT_ROOT / "monitor" / "storage"
ALERTS = PROJECT_ROOT / "monitor" / "alerts"
SQL_NAMES = {"select", "insert", "update", "delete", "text", "func"}
SESSION_METHODS = {"execute", "scalars", "scalar", "query", "add", "add_all", "get", "merge"}


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return modules


class TestNoCycle:
    @pytest.mark.parametrize("path", sorted(STORAGE.glob("*.py")), ids=lambda p: p.name)
    def test_storage_imports_nothing_from_alerts(self, path: Path) -> None:
        """No module of monitor.storage imports monitor.alerts (values live in monitor.values)."""
        assert [m for m in imported_modules(path) if m.startswith("monitor.alerts")] == []

    @pytest.mark.parametrize("path", sorted(ALERTS.glob("*.py")), ids=lambda p: p.name)
    def test_alerts_builds_no_sql(self, path: Path) -> None:
        """monitor.alerts imports no SQL constructs or ORM rows and calls no session method."""
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders = [
            f"{node.module}: {alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
            for alias in node.names
            if alias.name in SQL_NAMES
        ]
        offenders += [m for m in imported_modules(path) if m == "monitor.storage.schema"]
        offenders += [
            f"line {node.lineno}: session.{node.func.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ]
        assert offenders == []


class TestStatusValues:
    def test_enum_values_are_the_stored_strings(self) -> None:
        """The strings in the database, the webhook JSON and `alerts list --status` are the
        enums' values, so stored rows read back as enum members."""
        assert [s.value for s in DeliveryStatus] == ["pending", "delivered", "dead", "disabled"]
        assert AlertType("match.created") is AlertType.MATCH_CREATED
        assert AlertType("story.updated") is AlertType.STORY_UPDATED
        assert AlertType("digest") is AlertType.DIGEST
        assert {s.value for s in AlertStatus} == {"queued", "held", "digested"}
        assert {r.value for r in AttemptResult} == {"ok", "failed", "gone"}


class TestLightCli:
    def test_alerts_cli_imports_no_sender_at_module_level(self) -> None:
        """Importing the alerts commands loads neither httpx, smtplib, the senders nor the
        outbox queries (`monitor alerts --help` stays fast)."""
        probe = (
            "import sys, monitor.cli.alerts; "
            "print(sorted(m for m in ('httpx', 'smtplib', 'monitor.alerts.senders', "
            "'monitor.alerts.dispatch', 'monitor.storage.alerts', 'numpy') if m in sys.modules))"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"
