from __future__ import annotations

import gc
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import COMMANDS, cli
from monitor.loopback import FeedServer, Reply, item, rss

DATA = Path(__file__).parent / "data"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        '[network]\nallow_cidrs = ["127.0.0.0/8"]\n'
        "[parse]\nworkers = 1\n"
        f'[feeds]\nfile = "{Path(__file__).parents[1] / "config" / "feeds.toml"}"\n'
    )
    return path


def invoke(config: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


class TestHelp:
    @pytest.mark.parametrize("command", all_commands(cli), ids=lambda c: " ".join(c) or "monitor")
    def test_every_command_has_help(self, command: tuple[str, ...]) -> None:
        """`--help` works on every command and sub-command."""
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output


class TestLazyRoot:
    @pytest.mark.parametrize("name", sorted(COMMANDS))
    def test_registry_matches_the_command(self, name: str) -> None:
        """Each lazily listed command imports as a command of that name with that short help."""
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=500) == COMMANDS[name].short_help

    def test_root_help_lists_every_command(self) -> None:
        """`monitor --help` lists every command with its help, without importing them."""
        output = CliRunner().invoke(cli, ["--help"]).output
        for name, entry in COMMANDS.items():
            assert f"  {name} " in output and entry.short_help[:20] in output

    def test_unknown_command_is_a_usage_error(self) -> None:
        """A mistyped command is refused with click's usage error (exit 2)."""
        result = CliRunner().invoke(cli, ["feed", "list"])
        assert result.exit_code == 2 and "No such command 'feed'" in result.output


class TestFeeds:
    def test_add_list_export_import_remove(self, config_file: Path, tmp_path: Path) -> None:
        """Feeds round-trip through OPML and show their health in `list`."""
        assert invoke(config_file, "db", "upgrade").exit_code == 0
        added = invoke(
            config_file, "feeds", "add", "https://a.example/rss", "--name", "A", "--language", "es"
        )
        assert "added https://a.example/rss" in added.output
        assert (
            "already present" in invoke(config_file, "feeds", "add", "https://a.example/rss").output
        )

        listed = json.loads(invoke(config_file, "feeds", "list", "--format", "json").output)
        assert [(f["url"], f["name"], f["language"], f["enabled"]) for f in listed] == [
            ("https://a.example/rss", "A", "es", True)
        ]
        table = invoke(config_file, "feeds", "list").output
        assert "next poll (UTC)" in table and "https://a.example/rss" in table

        opml = tmp_path / "feeds.opml"
        invoke(config_file, "feeds", "export-opml", "--output", str(opml))
        assert 'xmlUrl="https://a.example/rss"' in opml.read_text()
        opml.write_text(
            opml.read_text().replace(
                "</body>",
                '<outline text="group"><outline type="rss" text="B" xmlUrl="https://b.example/feed"/></outline></body>',
            )
        )
        imported = invoke(config_file, "feeds", "import-opml", str(opml))
        assert "2 feeds in" in imported.output and "1 added, 1 known" in imported.output

        assert "removed" in invoke(config_file, "feeds", "remove", "https://a.example/rss").output
        gone = CliRunner().invoke(
            cli, ["--config", str(config_file), "feeds", "remove", "https://a.example/rss"]
        )
        assert gone.exit_code == 1 and "no such feed" in gone.output

    def test_opml_with_doctype_refused(self, config_file: Path, tmp_path: Path) -> None:
        """OPML carrying a DOCTYPE (entity tricks) is refused with a message."""
        invoke(config_file, "db", "upgrade")
        evil = tmp_path / "evil.opml"
        evil.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opml><body/></opml>')
        result = CliRunner().invoke(
            cli, ["--config", str(config_file), "feeds", "import-opml", str(evil)]
        )
        assert result.exit_code != 0 and "DOCTYPE" in str(result.exception)


class TestParseCommand:
    def test_jsonl_out_drops_on_stderr(self, config_file: Path, tmp_path: Path) -> None:
        """Kept entries are JSON lines with the documented keys; drops and non-feeds go to stderr."""
        html = tmp_path / "page.html"
        html.write_text("<html><body>not a feed</body></html>")
        result = CliRunner().invoke(
            cli,
            [
                "parse",
                "--config",
                str(config_file),
                str(DATA / "mixed.rss"),
                str(html),
                "--format",
                "jsonl",
            ],
        )
        assert result.exit_code == 0
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == 6
        assert set(records[0]) == {"source", "guid", "url", "title", "summary", "lang", "published"}
        assert records[0]["source"] == str(DATA / "mixed.rss")
        assert (
            "entry 3 dropped: link scheme 'javascript' is not http/https (Script link)"
            in result.stderr
        )
        assert f"{html}: feed skipped: an HTML page, not a feed" in result.stderr


class TestFetchCommand:
    def test_once_json_summary(self, config_file: Path, feed_server: FeedServer) -> None:
        """`fetch --once --feed URL --format json` prints the cycle summary as JSON."""
        url = feed_server.add(
            "/rss",
            Reply(
                200,
                {},
                rss([item("Lavrov meets Cuban minister in Havana", "https://e.org/1", "1")]),
            ),
        )
        broken = feed_server.add("/broken", Reply(500))
        invoke(config_file, "db", "upgrade")
        invoke(config_file, "feeds", "add", url)
        invoke(config_file, "feeds", "add", broken)
        summary = json.loads(
            invoke(config_file, "fetch", "--once", "--feed", url, "--format", "json").stdout
        )
        assert (summary["feeds_ok"], summary["new_articles"], summary["feeds_failed"]) == (1, 1, 0)
        text = invoke(config_file, "fetch", "--once", "--feed", broken).stdout
        assert "1 failed" in text and f"failed: {broken}: HTTP 500" in text
        # start-up paused the cyclic collector and froze what it built (monitor.startup):
        # once the command is over, both are undone
        assert gc.isenabled() and gc.get_freeze_count() == 0
