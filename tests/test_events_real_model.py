"""The two wrong merges that prompted events inside threads, with the real encoder and the
shipped weights: each report of a different event stands as its own event and raises its own
alert under its own title."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.embed import Embedder
from monitor.runtime import build_processor, open_embedder_for
from monitor.storage.alerts import alert_payload, list_alerts
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.stories import list_stories
from monitor.values import AlertType, FeedSpec
from tests.conftest import PROJECT_RELEVANCE
from tests.factories import make_entry
from tests.test_process import NOW

ALERTS = {
    "webhooks": [{"name": "ops", "url": "https://hooks.example.org/x", "secret_env": "X"}],
    "rules": [{"name": "relevant", "min_score": 0.2, "channels": ["ops"]}],
}
MADURO_CHINA = (
    "Maduro meets Chinese delegation in Caracas",
    "Venezuelan President Nicolás Maduro received a delegation of the Chinese Communist Party "
    "and discussed oil investment and trade.",
)
PUTIN_MADURO = (
    "Putin hosts Venezuela's Maduro",
    "Russian President Vladimir Putin received Venezuelan President Nicolás Maduro in the Kremlin "
    "for talks on energy and military cooperation.",
)
WARSHIPS = (
    "Russian warships arrive in Havana",
    "A Russian navy frigate and a nuclear-powered submarine docked in Havana harbour on a "
    "visit to Cuba, days after Russian naval exercises in the Atlantic.",
)
TOURISM = (
    "Cuba and Russia sign a tourism memorandum",
    "Russia and Cuba signed a memorandum of understanding in Havana on Thursday to boost Russian "
    "tourism to the island.",
)
# With the default encoder both second reports lie above the old same-story cosine (0.54): before
# events they joined the first story (0.59 and 0.59).


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    cache = tmp_path_factory.mktemp("cache")
    return Settings(relevance=PROJECT_RELEVANCE, embedding={"cache_dir": cache}, alerts=ALERTS)


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    return open_embedder_for(settings)


def publish(
    sessions: sessionmaker[Session], feed: int, guid: str, item: tuple[str, str], when: datetime
) -> None:
    entry = replace(
        make_entry(guid, f"https://o.example/{guid}", item[0], item[1]), published_at=when
    )
    with sessions.begin() as session:
        insert_articles(session, feed, [entry], when)


def run_two_reports(
    sessions: sessionmaker[Session],
    settings: Settings,
    embedder: Embedder,
    first: tuple[str, str],
    second: tuple[str, str],
    hours: float,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Publish and process `first`, then `second` `hours` later from another outlet; return the
    events and the alert payloads."""
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(f"https://outlet{n}.example/rss") for n in range(2)], 900, NOW)
        feeds = [f.id for f in list_feeds(session)]
    publish(sessions, feeds[0], "first", first, NOW)
    build_processor(settings, sessions, lambda: NOW, embedder).process_pending()
    later = NOW + timedelta(hours=hours)
    publish(sessions, feeds[1], "second", second, later)
    build_processor(settings, sessions, lambda: later, embedder).process_pending()
    with sessions() as session:
        alerts = sorted(list_alerts(session), key=lambda a: a.id)
        payloads = [json.loads(alert_payload(session, a.id) or "{}") for a in alerts]
        return list_stories(session), payloads


class TestTheTwoMerges:
    def test_putin_hosting_maduro_is_not_the_chinese_delegation_event(
        self, sessions: sessionmaker[Session], settings: Settings, embedder: Embedder
    ) -> None:
        """'Putin hosts Venezuela's Maduro' forms its own event and raises a new alert under its
        own title, not under 'Maduro meets Chinese delegation'."""
        events, payloads = run_two_reports(
            sessions, settings, embedder, MADURO_CHINA, PUTIN_MADURO, 20
        )
        assert [e["title"] for e in events] == [MADURO_CHINA[0], PUTIN_MADURO[0]]
        # The Chinese delegation is no Russian news: only Putin's visit alerts, as news.
        assert [(p["type"], p["story"]["title"]) for p in payloads] == [
            (AlertType.MATCH_CREATED, PUTIN_MADURO[0])
        ]
        assert str(payloads[0]["message"]).endswith(PUTIN_MADURO[0])

    def test_tourism_memorandum_raises_its_own_alert_after_the_warships(
        self, sessions: sessionmaker[Session], settings: Settings, embedder: Embedder
    ) -> None:
        """'Cuba and Russia sign a tourism memorandum' does not join the alerted warships event
        silently: it is an event of its own with an alert of its own."""
        events, payloads = run_two_reports(sessions, settings, embedder, WARSHIPS, TOURISM, 30)
        assert len(events) == 2
        assert len(payloads) == 2 and payloads[0]["type"] == AlertType.MATCH_CREATED
        assert payloads[1]["type"] in (AlertType.MATCH_CREATED, AlertType.STORY_DEVELOPING)
        assert payloads[1]["story"]["title"] == TOURISM[0]
