from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.cli import cli
from monitor.config import Settings
from monitor.runtime import build_processor
from monitor.tagging import Tagger
from tests.conftest import PROJECT_RELEVANCE, PROJECT_ROOT
from tests.factories import store_headlines
from tests.query_support import CORPUS, RELEVANT, store_corpus
from tests.test_api import HEADLINES

CACHE_DIR = PROJECT_ROOT / "var" / "cache"


def write_config(path: Path, url: str, extra: str = "") -> Path:
    path.write_text(
        f'[database]\nurl = "{url}"\n[embedding]\ncache_dir = "{CACHE_DIR}"\n'
        f'[relevance]\ngazetteer_dir = "{PROJECT_ROOT / "config" / "gazetteer"}"\n'
        f'model_file = "{PROJECT_ROOT / "config" / "relevance.toml"}"\n'
        f'seeds_dir = "{PROJECT_ROOT / "config" / "seeds" / "russia-latam"}"\n{extra}',
        encoding="utf-8",
    )
    return path


def url_of(sessions: sessionmaker[Session]) -> str:
    url: str = sessions.kw["bind"].url.render_as_string(hide_password=False)
    return url


@pytest.fixture
def config(tmp_path: Path, sqlite_sessions: sessionmaker[Session]) -> Path:
    """A database with the API tests' headlines, processed with the real default encoder."""
    url = url_of(sqlite_sessions)
    settings = Settings(
        database={"url": url}, embedding={"cache_dir": str(CACHE_DIR)}, relevance=PROJECT_RELEVANCE
    )
    store_headlines(sqlite_sessions, HEADLINES, datetime.now(UTC))
    build_processor(settings, sqlite_sessions).process_pending()
    return write_config(tmp_path / "monitor.toml", url)


@pytest.fixture
def corpus(tmp_path: Path, sessions: sessionmaker[Session], tagger: Tagger) -> Path:
    """The query corpus on each database (in-memory embedder: no semantic search here)."""
    store_corpus(sessions, tagger, datetime.now(UTC))
    return write_config(tmp_path / "monitor.toml", url_of(sessions))


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def invoke(config: Path, *args: str) -> str:
    result = run(config, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def titles(config: Path, *args: str) -> set[str]:
    return {m["title"] for m in json.loads(invoke(config, "matches", "--format", "json", *args))}


def one_line_refusal(config: Path, *args: str) -> str:
    result = run(config, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


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
        """`stories` lists stories; `show --format json` prints one match with article and
        story; `export` all."""
        assert "outlets" in invoke(config, "stories")
        first = json.loads(invoke(config, "matches", "--format", "json", "--limit", "1"))[0]
        shown = json.loads(invoke(config, "show", str(first["id"]), "--format", "json"))
        assert shown["match"]["id"] == first["id"] and shown["article"]["id"] == first["article_id"]
        lines = invoke(config, "export", "--all").splitlines()
        assert len(lines) == 5 and all(json.loads(line)["scorer_version"] for line in lines)

    def test_semantic_search(self, config: Path) -> None:
        """`search --all` finds the closest article by meaning, in another language too; without
        --all the not-relevant one is not searched."""
        question = "tormenta de nieve cierra escuelas"
        found = json.loads(invoke(config, "search", question, "--all", "--format", "json"))
        assert found[0]["title"] == HEADLINES[3]
        relevant = json.loads(
            invoke(config, "search", question, "--min-similarity", "-1", "--format", "json")
        )
        assert relevant and HEADLINES[3] not in {m["title"] for m in relevant}
        assert all(m["relevant"] for m in relevant)

    def test_search_hides_weak_results(self, config: Path) -> None:
        """Results below `[search] min_similarity` are not shown; the table says so instead."""
        strict = write_config(
            config.with_name("strict.toml"),
            url_of_config(config),
            "[search]\nmin_similarity = 0.99\n",
        )
        assert (
            json.loads(invoke(strict, "search", "military cooperation", "--format", "json")) == []
        )
        result = run(strict, "search", "military cooperation")
        assert result.exit_code == 0 and "close enough" in result.stderr
        loose = invoke(config, "search", "military cooperation", "--min-similarity", "0.2")
        assert "Venezuela" in loose

    def test_bad_since_is_a_usage_error(self, config: Path) -> None:
        """A malformed --since is refused with one line naming the value, exit 2."""
        message = one_line_refusal(config, "matches", "--since", "last week")
        assert "duration like 24h" in message and "'last week'" in message


def url_of_config(config: Path) -> str:
    line = next(ln for ln in config.read_text().splitlines() if ln.startswith("url = "))
    return line.split('"')[1]


class TestFilterOptions:
    def test_relevant_only_unless_all(self, corpus: Path) -> None:
        """`matches` lists relevant matches by default and every match with --all."""
        assert titles(corpus) == RELEVANT
        assert titles(corpus, "--all") == {title for title, _, _ in CORPUS}

    def test_country_names_mean_their_code(self, corpus: Path) -> None:
        """--country Venezuela lists what --country VE lists; Куба and Brasil resolve too."""
        assert titles(corpus, "--country", "Venezuela") == titles(corpus, "--country", "ve")
        assert titles(corpus, "--country", "VE") == {CORPUS[0][0], CORPUS[3][0]}
        assert titles(corpus, "--country", "Куба") == {CORPUS[1][0]}
        assert titles(corpus, "--country", "Brasil") == {CORPUS[4][0]}

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["--country", "Narnia"], "monitor: --country: unknown country 'Narnia'"),
            (["--topic", "astrology"], "monitor: --topic: unknown topic 'astrology'"),
            (["--lang", "spanish!"], "monitor: --lang: 'spanish!'"),
        ],
    )
    def test_unknown_values_exit_2_in_one_line(
        self, corpus: Path, args: list[str], expected: str
    ) -> None:
        """An unknown country, topic or language is one line naming it and exit 2."""
        assert one_line_refusal(corpus, "matches", *args).startswith(expected)

    def test_since_until_durations(self, corpus: Path) -> None:
        """--since and --until take durations back from now."""
        assert titles(corpus, "--all", "--since", "24h") == {CORPUS[i][0] for i in (0, 1, 2, 5)}
        assert titles(corpus, "--until", "24h") == {CORPUS[3][0], CORPUS[4][0]}

    def test_lang_and_literal_text(self, corpus: Path) -> None:
        """--lang keeps one language; --text takes % literally."""
        assert titles(corpus, "--lang", "es") == {CORPUS[3][0]}
        assert titles(corpus, "--all", "--text", "%") == {CORPUS[2][0]}

    def test_export_uses_the_same_filters(self, corpus: Path) -> None:
        """`export` resolves a country name as `matches` does."""
        lines = invoke(corpus, "export", "--country", "Brasil").splitlines()
        assert [json.loads(line)["title"] for line in lines] == [CORPUS[4][0]]


class TestBothFaces:
    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"all": True},
            {"country": "Venezuela"},
            {"country": "Куба", "since": "24h"},
            {"topic": "Trade finance"},
            {"lang": "pt"},
            {"text": "%", "all": True},
        ],
    )
    def test_cli_and_api_list_the_same_matches(
        self, corpus: Path, sessions: sessionmaker[Session], options: dict[str, Any]
    ) -> None:
        """The same filter gives the same matches from `monitor matches` and from /matches."""
        args = [
            part
            for name, value in options.items()
            for part in ([f"--{name}"] if value is True else [f"--{name}", value])
        ]
        cli_ids = [
            m["id"] for m in json.loads(invoke(corpus, "matches", "--format", "json", *args))
        ]
        params = {("q" if name == "text" else name): value for name, value in options.items()}
        app = create_app(Settings(relevance=PROJECT_RELEVANCE), sessions, None)
        with TestClient(app) as client:
            response = client.get("/matches", params={**params, "limit": 100})
        assert response.status_code == 200, response.text
        assert [m["id"] for m in response.json()["items"]] == cli_ids and cli_ids


class TestShow:
    def match_id(self, corpus: Path, title: str) -> int:
        found = json.loads(invoke(corpus, "matches", "--all", "--format", "json"))
        return int(next(m["id"] for m in found if m["title"] == title))

    def test_readable_summary_by_default(self, corpus: Path) -> None:
        """`show ID` prints title, outlet, language, dates, verdict, countries, topics, the
        reasons in words, the story and the URL."""
        text = invoke(corpus, "show", str(self.match_id(corpus, CORPUS[1][0])))
        assert not text.lstrip().startswith("{")
        for expected in (
            CORPUS[1][0],
            "relevant (score 0.",
            "Outlet 1 (https://outlet1-0.example/rss)",
            "language   en",
            "countries  CU",
            "energy",
            "Why:",
            "Lavrov (officials)",  # terms as they appear in the text
            "Cuban, Havana (CU)",
            "reported by 1 outlet",
            "https://o.example/1/0",
        ):
            assert expected in text, expected

    def test_not_relevant_says_so(self, corpus: Path) -> None:
        """A rejected match is shown as not relevant."""
        text = invoke(corpus, "show", str(self.match_id(corpus, CORPUS[2][0])))
        assert ": not relevant (score" in text

    def test_json_is_the_full_record(self, corpus: Path) -> None:
        """`show ID --format json` prints match, article and story."""
        match_id = self.match_id(corpus, CORPUS[0][0])
        shown = json.loads(invoke(corpus, "show", str(match_id), "--format", "json"))
        assert shown["match"]["id"] == match_id and shown["article"]["match"]["id"] == match_id
        assert shown["story"]["articles"][0]["title"] == CORPUS[0][0]


def test_query_commands_load_no_numpy_or_web_stack() -> None:
    """monitor/cli/queries.py (with what it imports) loads no numpy, FastAPI or model."""
    script = (
        "import sys, types, monitor\n"
        "package = types.ModuleType('monitor.cli')\n"
        f"package.__path__ = [{str(PROJECT_ROOT / 'monitor' / 'cli')!r}]\n"
        "sys.modules['monitor.cli'] = package\n"
        "import monitor.cli.queries\n"
        "heavy = ('numpy', 'fastapi', 'torch', 'sentence_transformers', 'monitor.embed')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert loaded.stdout.strip() == "[]"
