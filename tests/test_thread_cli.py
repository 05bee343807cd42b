"""`monitor thread`: a developing story with its events, from the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import cli
from monitor.errors import MonitorError
from monitor.storage.stories import list_stories
from monitor.tagging import Tagger
from tests.test_events_storage import NOW, WARSHIPS, WARSHIPS_LATER, feeds, processor, publish
from tests.test_queries_cli import url_of


def two_events(sessions: sessionmaker[Session], tagger: Tagger, tmp_path: Path) -> Path:
    ids = feeds(sessions)
    publish(sessions, ids[0], "a", WARSHIPS, NOW)
    processor(sessions, tagger, NOW).process_pending()
    later = NOW + timedelta(hours=72)
    publish(sessions, ids[1], "b", WARSHIPS_LATER, later)
    processor(sessions, tagger, later).process_pending()
    config = tmp_path / "monitor.toml"
    config.write_text(f'[database]\nurl = "{url_of(sessions)}"\n', encoding="utf-8")
    return config


class TestThreadCommand:
    def test_story_thread_as_table_and_json(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger, tmp_path: Path
    ) -> None:
        """--story ID shows the story's thread: both events in order, in text and JSON."""
        config = two_events(sqlite_sessions, tagger, tmp_path)
        with sqlite_sessions() as session:
            story_id = list_stories(session)[-1]["id"]
        runner = CliRunner()
        text = runner.invoke(cli, ["--config", str(config), "thread", "--story", str(story_id)])
        assert text.exit_code == 0, text.output
        assert "2 events" in text.output
        assert text.output.index(WARSHIPS[:40]) < text.output.index(WARSHIPS_LATER[:40])
        raw = runner.invoke(
            cli, ["--config", str(config), "thread", "--story", str(story_id), "--format", "json"]
        )
        assert [e["title"] for e in json.loads(raw.output)["events"]] == [WARSHIPS, WARSHIPS_LATER]

    def test_unknown_thread_is_one_line(
        self, sqlite_sessions: sessionmaker[Session], tagger: Tagger, tmp_path: Path
    ) -> None:
        """An unknown id is an expected error (MonitorError: one line from `monitor`, exit 1)."""
        config = two_events(sqlite_sessions, tagger, tmp_path)
        result = CliRunner().invoke(cli, ["--config", str(config), "thread", "999"])
        assert isinstance(result.exception, MonitorError)
        assert str(result.exception) == "no such thread: 999"
