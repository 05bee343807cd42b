"""The API's OpenAPI schema exercised by schemathesis: no 500 on any generated input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from monitor.api.app import create_app
from monitor.config import Settings
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds
from monitor.values import FeedSpec
from tests.fakes import BagOfWordsEmbedder


def build_app(directory: Path):  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import sessionmaker

    config = Settings(database={"url": f"sqlite:///{directory / 'schema.db'}"})
    engine = open_engine(config.database)
    migrate.upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec("https://a.example/rss")], 900, datetime.now(UTC))
    embedder = BagOfWordsEmbedder()
    return create_app(config, sessions, "token", None, lambda: embedder)


APP_DIR = Path(__import__("tempfile").mkdtemp(prefix="monitor-schema-"))
schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(APP_DIR))


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    """Any generated request gets a 2xx/4xx answer, never a 500."""
    response = case.call(headers={"Authorization": "Bearer token"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
