from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import cli
from monitor.cli.tagging import open_processor
from monitor.config import Settings
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT
from tests.factories import store_headlines
from tests.test_api import HEADLINES


@pytest.fixture
def config(tmp_path: Path, sqlite_sessions: sessionmaker[Session]) -> Path:
    """A database with the API tests' headlines, processed with the real default encoder."""
    url = str(sqlite_sessions.kw["bind"].url)
    settings = Settings(
        database={"url": url},
        embedding={"cache_dir": str(PROJECT_ROOT / "var" / "cache")},
        relevance=PROJECT_RELEVANCE,
    )
    now = datetime.now(UTC)
    store_headlines(sqlite_sessions, HEADLINES, now)
    open_processor(settings, sqlite_sessions).process_pending()
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[embedding]\ncache_dir = "{PROJECT_ROOT / "var" / "cache"}"\n'
        f'[relevance]\ngazetteer_dir = "{PROJECT_ROOT / "config" / "gazetteer"}"\n'
        f'model_file = "{PROJECT_ROOT / "config" / "relevance.toml"}"\n'
        f'seeds_dir = "{PROJECT_ROOT / "config" / "seeds" / "russia-latam"}"\n'
    )
    return path


def invoke(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


class TestQueries:
    def test_matches_filters_and_formats(self, config: Path) -> None:
        """`matches` filters by country and recency, as a table, JSON or CSV."""
        table = invoke(config, "matches", "--since", "24h")
        assert "first seen (UTC)" in table and "Ontario" not in table
        cuban = json.loads(invoke(config, "matches", "--country", "CU", "--format", "json"))
        assert [m["title"] for m in cuban] == [HEADLINES[2]]
        rows = list(
            csv.DictReader(io.StringIO(invoke(config, "matches", "--all", "--format", "csv")))
        )
        assert len(rows) == 5 and {"countries", "topics", "url"} <= set(rows[0])

    def test_stories_show_and_export(self, config: Path) -> None:
        """`stories` lists stories; `show` prints one match with article and story; `export` all."""
        assert "outlets" in invoke(config, "stories")
        first = json.loads(invoke(config, "matches", "--format", "json", "--limit", "1"))[0]
        shown = json.loads(invoke(config, "show", str(first["id"])))
        assert shown["match"]["id"] == first["id"] and shown["article"]["id"] == first["article_id"]
        lines = invoke(config, "export", "--all").splitlines()
        assert len(lines) == 5 and all(json.loads(line)["scorer_version"] for line in lines)

    def test_semantic_search(self, config: Path) -> None:
        """`search` finds the closest article by meaning, in another language too."""
        found = json.loads(
            invoke(config, "search", "tormenta de nieve cierra escuelas", "--format", "json")
        )
        assert found[0]["title"] == HEADLINES[3]

    def test_bad_since_is_a_usage_error(self, config: Path) -> None:
        """A malformed --since is refused with a message."""
        result = CliRunner().invoke(
            cli, ["--config", str(config), "matches", "--since", "last week"]
        )
        assert result.exit_code == 2 and "duration like 24h" in result.output
