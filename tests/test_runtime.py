"""The runtime opens what a running monitor needs and closes it together: the model only when
something embeds, alert rules checked first, and every claim given back however it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.runtime import LazyEmbedder, open_dispatcher, open_runtime
from monitor.storage.feeds import add_feeds
from monitor.storage.schema import Delivery, Feed
from monitor.values import FeedSpec
from tests.alert_support import new_secret, store_alerts
from tests.conftest import PROJECT_RELEVANCE, SettingsFactory
from tests.fakes import BagOfWordsEmbedder


@pytest.fixture
def no_model(make_settings: SettingsFactory, tmp_path: Path) -> SettingsFactory:
    """Settings whose embedding model is a folder that does not exist: loading it fails."""

    def build(**sections: dict[str, object]) -> Settings:
        return make_settings(embedding={"model": str(tmp_path / "no-such-model")}, **sections)

    return build


class TestLazyEmbedder:
    def test_nothing_is_loaded_until_the_first_call(self, no_model: SettingsFactory) -> None:
        """Making the embedder loads nothing; the first call loads (here: fails to)."""
        embedder = LazyEmbedder(no_model())
        assert not embedder.is_loaded
        with pytest.raises(ConfigError, match="no-such-model"):
            embedder()

    def test_the_loaded_embedder_is_shared(self, make_settings: SettingsFactory) -> None:
        """Every call returns the same embedder."""
        fake = BagOfWordsEmbedder()
        embedder = LazyEmbedder(make_settings(), fake)
        assert embedder() is embedder() is fake and embedder.is_loaded


class TestOpenRuntime:
    def test_without_processing_no_model_is_loaded(
        self, no_model: SettingsFactory, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """process=False opens ingestor and dispatcher and never touches the model."""

        async def open_and_look() -> tuple[bool, bool, int]:
            async with open_runtime(no_model(), sqlite_sessions, process=False) as runtime:
                return runtime.processor is None, runtime.embedder.is_loaded, len(runtime.owners)

        assert asyncio.run(open_and_look()) == (True, False, 2)

    def test_with_processing_a_missing_model_fails_at_start(
        self, no_model: SettingsFactory, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """A runtime that processes loads the model when it opens: a bad one is a ConfigError."""

        async def open_it() -> None:
            async with open_runtime(no_model(relevance=PROJECT_RELEVANCE), sqlite_sessions):
                pass

        with pytest.raises(ConfigError, match="no-such-model"):
            asyncio.run(open_it())

    def test_alert_rule_with_unknown_country_fails_before_anything_opens(
        self, no_model: SettingsFactory, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """A rule filtering on a country the gazetteer cannot tag is a ConfigError at start."""
        settings = no_model(
            relevance=PROJECT_RELEVANCE,
            alerts={
                "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/", "secret_env": "NONE"}],
                "rules": [{"name": "narnia", "countries": ["NARNIA"], "channels": ["ops"]}],
            },
        )

        async def open_it() -> None:
            async with open_runtime(settings, sqlite_sessions):
                pass

        with pytest.raises(ConfigError, match="NARNIA"):
            asyncio.run(open_it())

    def test_claims_are_released_when_the_body_is_interrupted(
        self, make_settings: SettingsFactory, sessions: sessionmaker[Session]
    ) -> None:
        """A feed leased inside the runtime is free again after a cancellation unwinds it."""
        url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        with sessions.begin() as session:
            add_feeds(session, [FeedSpec("http://127.0.0.1:9/feed")], 900, datetime.now(UTC))
        leased: list[str | None] = []

        async def lease_then_get_cancelled() -> None:
            async with open_runtime(
                make_settings(database={"url": url}), sessions, process=False
            ) as runtime:
                runtime.ingestor.due_feeds(None)
                with sessions() as session:
                    leased.extend(session.scalars(select(Feed.lease_owner)))
                raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(lease_then_get_cancelled())
        with sessions() as session:
            assert list(session.scalars(select(Feed.lease_owner))) == [None]
        assert leased and leased[0] and leased[0].startswith("ingestor-")


class TestOpenDispatcher:
    def test_deliveries_claimed_inside_are_free_after_it_closes(
        self, make_settings: SettingsFactory, sessions: sessionmaker[Session]
    ) -> None:
        """open_dispatcher on its own HTTP client: what its dispatcher claimed is given back."""
        url = sessions.kw["bind"].url.render_as_string(hide_password=False)
        store_alerts(sessions, 2)
        settings = make_settings(
            database={"url": url},
            alerts={
                "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/", "secret_env": "HOOK"}],
                "rules": [{"name": "relevant", "channels": ["ops"]}],
            },
        )

        async def claim_inside() -> int:
            async with open_dispatcher(settings, sessions, environ={"HOOK": new_secret()}) as d:
                return len(await asyncio.to_thread(d.claim, 10))

        assert asyncio.run(claim_inside()) == 2
        with sessions() as session:
            assert list(session.scalars(select(Delivery.lease_owner))) == [None, None]

    def test_a_channel_without_its_secret_is_a_config_error(
        self, make_settings: SettingsFactory, sqlite_sessions: sessionmaker[Session]
    ) -> None:
        """A webhook whose secret variable is unset stops the dispatcher from opening."""
        settings = make_settings(
            alerts={
                "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/", "secret_env": "HOOK"}],
                "rules": [{"name": "relevant", "channels": ["ops"]}],
            },
        )

        async def open_it() -> None:
            async with open_dispatcher(settings, sqlite_sessions, environ={}):
                pass

        with pytest.raises(ConfigError, match="HOOK"):
            asyncio.run(open_it())
