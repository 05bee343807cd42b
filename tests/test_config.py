from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import Settings, load_settings
from monitor.errors import ConfigError
from tests.conftest import PROJECT_ROOT


class TestLoadSettings:
    def test_shipped_file_equals_the_defaults(self) -> None:
        """config/monitor.toml lists every setting with its default value."""
        assert load_settings(PROJECT_ROOT / "config" / "monitor.toml") == Settings()

    def test_shipped_file_comments_every_setting(self) -> None:
        """Every key in config/monitor.toml has a comment line right above it."""
        lines = (PROJECT_ROOT / "config" / "monitor.toml").read_text().splitlines()
        for number, line in enumerate(lines):
            if "=" in line and not line.startswith("#"):
                assert lines[number - 1].startswith("#"), f"uncommented setting: {line}"

    def test_environment_overrides_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """MONITOR_SECTION__KEY beats the file; lists are JSON."""
        path = tmp_path / "m.toml"
        path.write_text('[database]\nurl = "sqlite:///from-file.db"\n')
        monkeypatch.setenv("MONITOR_DATABASE__URL", "sqlite:///from-env.db")
        monkeypatch.setenv("MONITOR_NETWORK__ALLOW_CIDRS", '["127.0.0.0/8"]')
        settings = load_settings(path)
        assert settings.database.url == "sqlite:///from-env.db"
        assert [str(c) for c in settings.network.allow_cidrs] == ["127.0.0.0/8"]

    def test_missing_default_file_gives_defaults(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Run outside a checkout, with no config file, monitor uses its defaults."""
        monkeypatch.chdir(tmp_path)
        assert load_settings() == Settings()

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ('[database]\nurll = "x"\n', "database.urll: unknown key"),
            (
                '[fetch]\nbackoff_base_s = "soon"\n',
                "fetch.backoff_base_s: Input should be a valid integer",
            ),
            ('[network]\nallow_cidrs = ["not-a-cidr"]\n', "network.allow_cidrs.0"),
            ("[database\n", "invalid TOML"),
            ("[nonsense]\nx = 1\n", "nonsense: unknown key"),
        ],
    )
    def test_bad_file_names_file_and_key(self, tmp_path: Path, content: str, expected: str) -> None:
        """A bad setting raises one ConfigError line naming the file and the key."""
        path = tmp_path / "bad.toml"
        path.write_text(content)
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert str(caught.value).startswith(str(path))
        assert expected in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_bad_environment_variable_is_named(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A bad value from the environment names the variable, not the file."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MONITOR_NETWORK__MAX_REDIRECTS", "lots")
        with pytest.raises(
            ConfigError, match="environment variable MONITOR_NETWORK__MAX_REDIRECTS"
        ):
            load_settings()

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """An explicit --config that does not exist is an error, not silent defaults."""
        with pytest.raises(ConfigError, match="cannot read"):
            load_settings(tmp_path / "missing.toml")


class TestCommandLineConfigErrors:
    @pytest.mark.parametrize("position", ["before", "after"])
    def test_exit_2_one_line_no_traceback(self, tmp_path: Path, position: str) -> None:
        """`--config` works on every command; a bad file exits 2 with one line on stderr."""
        path = tmp_path / "bad.toml"
        path.write_text("[parse]\nworkers = 0\n")
        args = ["--config", str(path), "feeds", "list"]
        if position == "after":
            args = ["feeds", "list", "--config", str(path)]
        run = subprocess.run(
            [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, cwd=tmp_path
        )
        assert run.returncode == 2
        assert "Traceback" not in run.stderr
        assert run.stderr.strip().splitlines() == [
            f"monitor: config error: {path}: parse.workers: Input should be greater than or equal to 1"
        ]
