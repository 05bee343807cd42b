from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import click.testing
import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import (
    DatabaseSettings,
    FetchSettings,
    Settings,
    find_config_file,
    load_settings,
)
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


def write_settings(path: Path, url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[database]\nurl = "{url}"\n')
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A working directory, a home and an XDG config directory, each with a settings file."""
    work, home, xdg = tmp_path / "work", tmp_path / "home", tmp_path / "xdg"
    monkeypatch.chdir(
        write_settings(work / "config" / "monitor.toml", "sqlite:///cwd.db").parents[1]
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    return {
        "cwd": work / "config" / "monitor.toml",
        "home": write_settings(home / ".config" / "monitor" / "monitor.toml", "sqlite:///home.db"),
        "xdg": write_settings(xdg / "monitor" / "monitor.toml", "sqlite:///xdg.db"),
        "env": write_settings(tmp_path / "env.toml", "sqlite:///env.db"),
        "flag": write_settings(tmp_path / "flag.toml", "sqlite:///flag.db"),
    }


class TestDiscovery:
    def test_flag_beats_environment(
        self, places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`--config` wins over $MONITOR_CONFIG."""
        monkeypatch.setenv("MONITOR_CONFIG", str(places["env"]))
        assert find_config_file(places["flag"]) == places["flag"]

    def test_environment_beats_working_directory(
        self, places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """$MONITOR_CONFIG wins over ./config/monitor.toml."""
        monkeypatch.setenv("MONITOR_CONFIG", str(places["env"]))
        assert load_settings().database.url == "sqlite:///env.db"

    def test_working_directory_beats_user_config(self, places: dict[str, Path]) -> None:
        """./config/monitor.toml wins over the user's config directory."""
        assert find_config_file() == Path("config/monitor.toml")
        assert load_settings().database.url == "sqlite:///cwd.db"

    def test_xdg_config_home(self, places: dict[str, Path]) -> None:
        """Without ./config/monitor.toml, $XDG_CONFIG_HOME/monitor/monitor.toml is used."""
        places["cwd"].unlink()
        assert find_config_file() == places["xdg"]

    def test_home_config_without_xdg(
        self, places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without $XDG_CONFIG_HOME (or with a relative one), ~/.config/monitor/monitor.toml is
        used."""
        places["cwd"].unlink()
        monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
        assert find_config_file() == places["home"]
        monkeypatch.delenv("XDG_CONFIG_HOME")
        assert find_config_file() == places["home"]

    def test_nothing_found_means_defaults(self, places: dict[str, Path]) -> None:
        """With no file anywhere, the built-in defaults apply."""
        for name in ("cwd", "xdg", "home"):
            places[name].unlink()
        assert find_config_file() is None
        assert load_settings() == Settings()


def invoke_cli(*args: str) -> click.testing.Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


class TestConfigShow:
    def test_names_the_discovered_file_and_database(self, places: dict[str, Path]) -> None:
        """`config show` names the file found by discovery and the absolute SQLite file."""
        places["cwd"].unlink()
        lines = invoke_cli("config", "show").stdout.splitlines()
        assert lines[0] == f"# config: {places['xdg']}"
        assert lines[1] == f"# database: sqlite:///{Path.cwd() / 'xdg.db'}"

    def test_built_in_defaults(self, places: dict[str, Path]) -> None:
        """With no settings file, `config show` says the built-in defaults are in use."""
        for name in ("cwd", "xdg", "home"):
            places[name].unlink()
        assert invoke_cli("config", "show").stdout.startswith("# config: built-in defaults\n")

    def test_toml_is_a_settings_file_with_overrides_and_no_password(
        self, places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The TOML printed reads back as the effective settings (environment applied), with the
        database password left out."""
        monkeypatch.setenv("MONITOR_DATABASE__URL", "postgresql+psycopg://u:hunter2@db:5432/m")
        monkeypatch.setenv("MONITOR_FETCH__LEASE_S", "77")
        output = invoke_cli("config", "show").stdout
        assert "hunter2" not in output
        assert "# database: postgresql+psycopg://u@db:5432/m" in output
        monkeypatch.delenv("MONITOR_DATABASE__URL")
        monkeypatch.delenv("MONITOR_FETCH__LEASE_S")
        shown = tmp_path / "shown.toml"
        shown.write_text(output)
        expected = load_settings().model_copy(
            update={
                "database": DatabaseSettings(url="postgresql+psycopg://u@db:5432/m"),
                "fetch": FetchSettings(lease_s=77),
            }
        )
        assert load_settings(shown) == expected

    def test_json(self, places: dict[str, Path]) -> None:
        """`--format json` carries the file, the database, the directory and every setting."""
        shown = json.loads(invoke_cli("config", "show", "--format", "json").stdout)
        assert shown["config"] == str(places["cwd"])
        assert shown["working_directory"] == str(Path.cwd())
        assert shown["settings"]["database"]["url"] == "sqlite:///cwd.db"
        assert shown["settings"]["smtp"]["from"] == "monitor@localhost"

    def test_version_names_file_and_database(self, places: dict[str, Path]) -> None:
        """`monitor --config FILE --version` prints the version, that file and its database."""
        output = invoke_cli("--config", str(places["flag"]), "--version").stdout.splitlines()
        assert output[0].startswith("monitor ")
        assert output[1:] == [
            f"config: {places['flag']}",
            f"database: sqlite:///{Path.cwd() / 'flag.db'}",
        ]

    def test_service_start_up_log_names_file_and_database(
        self, places: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`monitor run` logs, before anything else, the settings file and database in use."""
        from monitor.cli.common import settings_for

        context = click.Context(cli, info_name="monitor")
        context.invoked_subcommand = "run"
        settings_for(context)
        first = json.loads(capsys.readouterr().err.splitlines()[0])
        assert (first["level"], first["message"]) == ("info", "settings loaded")
        assert first["config"] == str(places["cwd"].absolute())
        assert first["database"] == f"sqlite:///{Path.cwd() / 'cwd.db'}"

    def test_toml_round_trips_channels_and_rules(
        self, places: dict[str, Path], tmp_path: Path
    ) -> None:
        """Alert channels and rules (arrays of tables) print as `[[alerts.…]]` blocks that read
        back to the same settings."""
        places["flag"].write_text(
            "[alerts]\nretry_schedule_s = [1, 2]\n"
            '[[alerts.webhooks]]\nname = "ops"\nurl = "https://hooks.example/x"\n'
            'secret_env = "HOOK_SECRET"\n'
            '[[alerts.emails]]\nname = "desk"\nto = ["a@example.org", "b@example.org"]\n'
            '[[alerts.rules]]\nname = "energy"\ncountries = ["VE"]\nchannels = ["ops", "desk"]\n'
            '[smtp]\nhost = "smtp.example"\nfrom = "news@example.org"\n'
        )
        output = invoke_cli("--config", str(places["flag"]), "config", "show").stdout
        assert "[[alerts.webhooks]]" in output and "[[alerts.rules]]" in output
        shown = tmp_path / "shown.toml"
        shown.write_text(output)
        assert load_settings(shown) == load_settings(places["flag"])
