from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import EmbeddingSettings, Settings
from monitor.gazetteer import load_gazetteer
from monitor.loopback import FeedServer
from monitor.relevance_files import load_relevance_model, load_seed_index
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.tagging import Tagger
from tests.fakes import BagOfWordsEmbedder

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Hypothesis (under schemathesis) keeps its example database in the current directory unless
# told otherwise; tests write nothing inside the checkout.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="monitor-test-hypothesis-")
)
# Likewise the seed-vector cache (`[embedding] cache_dir`, var/cache by default) of every
# monitor the tests start, in this process or as a subprocess run from the checkout.
os.environ.setdefault(
    "MONITOR_EMBEDDING__CACHE_DIR", tempfile.mkdtemp(prefix="monitor-test-cache-")
)
# And the saved story-window index (`[stories] index_dir`, var/index by default).
os.environ.setdefault("MONITOR_STORIES__INDEX_DIR", tempfile.mkdtemp(prefix="monitor-test-index-"))
# The encoder runs in this process (`[embedding] processes = 0`, a supported setting) in every
# test but those that ask for child processes: each child loads the model again, for nothing
# those tests check. On a quiet machine the six files that run the model most (test_scale_out,
# test_feedback_roundtrip, test_events_real_model, test_cli, test_pipeline, test_alerts_cli)
# take 48 s this way, 63 s with two children. The child processes themselves are tested in
# test_encoder_process and test_process_pipeline, and end to end, with the shipped default, by
# test_service and test_demo (DEFAULT_PROCESSES_ENV).
os.environ.setdefault("MONITOR_EMBEDDING__PROCESSES", "0")
DEFAULT_PROCESSES_ENV = {
    "MONITOR_EMBEDDING__PROCESSES": str(EmbeddingSettings.model_fields["processes"].default)
}
SHARED = PROJECT_ROOT.parent / "shared"
PG_ADMIN_URL = os.environ.get(
    "MONITOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SettingsFactory = Callable[..., Settings]
# The shipped relevance data, usable from any working directory.
PROJECT_RELEVANCE = {
    "gazetteer_dir": str(PROJECT_ROOT / "config" / "gazetteer"),
    "model_file": str(PROJECT_ROOT / "config" / "relevance.toml"),
    "seeds_dir": str(PROJECT_ROOT / "config" / "seeds" / "russia-latam"),
}


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for a test: a private SQLite file and loopback allowed, plus overrides."""

    def build(**sections: dict[str, Any]) -> Settings:
        values: dict[str, dict[str, Any]] = {
            "database": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
            "network": {"allow_cidrs": ["127.0.0.0/8"], "total_deadline_s": 10.0},
            "parse": {"workers": 1, "time_budget_s": 20.0},
            "feeds": {"file": str(PROJECT_ROOT / "config" / "feeds.toml")},
            "embedding": {"cache_dir": str(tmp_path / "cache")},
        }
        for name, overrides in sections.items():
            values.setdefault(name, {}).update(overrides)
        return Settings(**values)

    return build


def postgres_or_skip() -> None:
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable on CI at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL server reachable at {PG_ADMIN_URL}")
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after the test."""
    postgres_or_skip()
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sessions(database_url: str, make_settings: SettingsFactory) -> Iterator[sessionmaker[Session]]:
    """A migrated database on each backend."""
    engine = open_engine(make_settings(database={"url": database_url}).database)
    migrate.upgrade(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def sqlite_sessions(make_settings: SettingsFactory) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(make_settings().database)
    migrate.upgrade(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def tagger() -> Tagger:
    """The real gazetteer, weights and seeds with an in-memory bag-of-words embedder."""
    embedder = BagOfWordsEmbedder()
    return Tagger(
        gazetteer=load_gazetteer(PROJECT_ROOT / "config" / "gazetteer"),
        model=load_relevance_model(PROJECT_ROOT / "config" / "relevance.toml"),
        seeds=load_seed_index(PROJECT_ROOT / "config" / "seeds" / "russia-latam", embedder, None),
        embedder=embedder,
    )


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists only in the development workspace)")
    return SHARED


REPORTED_TOTALS: dict[str, dict[str, int]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Tests that measure a whole data set report their totals here, in every run."""
    for name, totals in REPORTED_TOTALS.items():
        figures = ", ".join(f"{key} {value:,}" for key, value in totals.items())
        terminalreporter.write_line(f"{name}: {figures}")


# The suite in three groups, so a newcomer can run the fast part alone (`pytest -m unit`):
# acceptance tests run whole processes (the service, workers, a browser, an installed wheel);
# integration tests use a real database, network server, model or the CLI; the rest are unit
# tests of the pure core.
ACCEPTANCE_MODULES = {
    "test_service",
    "test_scale_out",
    "test_crash_safety",
    "test_demo",
    "test_interrupts",
    "test_pipeline",
    "test_packaging",
    "test_browser",
    "test_browser_login",
    "test_feedback_roundtrip",
    "test_workers",
    "test_api_server",
    "test_events_real_model",
}
INTEGRATION_FIXTURES = {
    "sessions",
    "sqlite_sessions",
    "database_url",
    "postgres_url",
    "make_settings",
    "feed_server",
    "shared_dir",
    "tmp_path",
    "monkeypatch",
}
# Modules that reach real parts without those fixtures (the packaged model, subprocesses,
# loopback servers, the CLI).
INTEGRATION_MODULES = {
    "test_alert_layering",
    "test_alerts_cli",
    "test_cli",
    "test_cli_speed",
    "test_config",
    "test_cycle_isolation",
    "test_db_cli",
    "test_email",
    "test_feedback_eval_cli",
    "test_feeds_cli",
    "test_fetch",
    "test_fit_relevance_cli",
    "test_ingest",
    "test_parse_cli",
    "test_queries_cli",
    "test_relevance",
    "test_same_story_cli",
    "test_service_state",
    "test_tagging",
    "test_thread_cli",
    "test_webhooks",
    "test_corpus",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in ACCEPTANCE_MODULES:
            item.add_marker(pytest.mark.acceptance)
        elif (
            module in INTEGRATION_MODULES
            or INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ()))
            or item.get_closest_marker("postgres")
            or item.get_closest_marker("slow")
        ):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


# No test writes inside the checkout: every file a test session creates there is reported, and
# on CI (CI=true) the session fails. Caches of the tools themselves are left out.
IGNORED_PARTS = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def checkout_files() -> set[Path]:
    found: set[Path] = set()
    for path in PROJECT_ROOT.rglob("*"):
        relative = path.relative_to(PROJECT_ROOT)
        if IGNORED_PARTS & set(relative.parts) or relative.name.endswith(".egg-info"):
            continue
        if any(part.endswith(".egg-info") for part in relative.parts):
            continue
        found.add(relative)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[CHECKOUT_BEFORE] = checkout_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(CHECKOUT_BEFORE, None)
    if before is None:
        return
    created = sorted(str(p) for p in checkout_files() - before)
    if not created:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"tests wrote inside the checkout: {', '.join(created[:10])}")
    if os.environ.get("CI") == "true":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


CHECKOUT_BEFORE = pytest.StashKey[set[Path]]()
