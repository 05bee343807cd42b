"""`monitor parse` and the import cost of the parsing modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.loopback import item, rss

HEAVY_MODULES = ("numpy", "py3langid", "pebble")


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        "[parse]\nworkers = 1\nmax_entries_per_feed = 3\n"
    )
    return path


class TestParseCommand:
    def test_says_how_many_entries_were_cut(self, tmp_path: Path) -> None:
        """A feed over the entry cap prints its first entries and one line on what was cut."""
        feed = tmp_path / "big.rss"
        feed.write_bytes(rss([item(f"Story {n}", f"https://e.org/{n}", str(n)) for n in range(10)]))
        result = CliRunner().invoke(
            cli, ["parse", "--config", str(write_config(tmp_path)), str(feed)]
        )
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["guid"] for line in result.stdout.splitlines()] == ["0", "1", "2"]
        assert f"{feed}: 7 entries after the first 3 not read" in result.stderr


class TestImportCost:
    def test_pure_parser_and_cli_module_load_no_model(self) -> None:
        """Importing monitor.parse or the `monitor parse` command loads no numpy, model or pool."""
        code = (
            "import sys, monitor.parse, monitor.cli.parse\n"
            f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]"
