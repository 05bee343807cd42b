"""An installed wheel (not the checkout) carries and runs its own migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SOURCES = ("monitor", "workers", "pyproject.toml", "README.md")
PROBE = """
import sys
from pathlib import Path
import monitor
from sqlalchemy import inspect
from monitor.config import Settings
from monitor.storage import migrate
from monitor.storage.engine import open_engine

assert Path(monitor.__file__).is_relative_to(Path(sys.argv[1])), monitor.__file__
engine = open_engine(Settings(database={"url": "sqlite:///" + sys.argv[2]}).database)
migrate.upgrade(engine)
assert migrate.current_revision(engine) == migrate.head_revision() is not None
print(sorted(inspect(engine).get_table_names()))
engine.dispose()
"""


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel from a copy of its sources, installed into its own directory."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet")
    run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(root / "dist"),
        ".",
        cwd=source,
    )
    (wheel,) = (root / "dist").glob("monitor-*.whl")
    target = root / "site"
    run(*pip, "install", "--no-deps", "--target", str(target), str(wheel), cwd=root)
    return target


@pytest.mark.slow
class TestWheel:
    def test_wheel_carries_the_migrations(self, installed: Path) -> None:
        """env.py, the template and every revision file are installed with the package."""
        shipped = {p.name for p in (installed / "monitor" / "migrations" / "versions").glob("*.py")}
        in_checkout = {p.name for p in (PROJECT_ROOT / "monitor/migrations/versions").glob("*.py")}
        assert shipped == in_checkout and shipped
        assert (installed / "monitor" / "migrations" / "env.py").is_file()
        assert (installed / "monitor" / "migrations" / "script.py.mako").is_file()

    def test_installed_package_migrates_from_elsewhere(
        self, installed: Path, tmp_path: Path
    ) -> None:
        """Run from a directory outside the checkout, the installed code migrates a database to
        the current revision with the migrations it carries."""
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env["PYTHONPATH"] = str(installed)
        database = elsewhere / "var" / "monitor.db"
        output = run(
            sys.executable, "-c", PROBE, str(installed), str(database), cwd=elsewhere, env=env
        )
        assert "'alembic_version'" in output and "'feeds'" in output

    def test_installed_command_line_upgrades(self, installed: Path, tmp_path: Path) -> None:
        """`python -m monitor db upgrade` from the installed package creates a current database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update(PYTHONPATH=str(installed), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
        output = run(sys.executable, "-m", "monitor", "db", "upgrade", cwd=tmp_path, env=env)
        assert output.startswith("database at revision ")
        current = run(sys.executable, "-m", "monitor", "db", "current", cwd=tmp_path, env=env)
        database, code = current.split()[1], current.split()[3]
        assert database == code
        assert (tmp_path / "var" / "monitor.db").is_file()

    def test_wheel_holds_only_the_packages(self, installed: Path) -> None:
        """The wheel installs the two packages and the `monitor` script, no alembic/ beside them."""
        names = sorted(p.name for p in installed.iterdir() if not p.name.endswith(".dist-info"))
        assert names == ["bin", "monitor", "workers"]
        assert (installed / "bin" / "monitor").is_file()
