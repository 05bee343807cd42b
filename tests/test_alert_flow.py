"""Alerts raised by the processing stage: per story, in the same transaction as the matches."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import build_due_digests
from monitor.config import AlertSettings, StorySettings
from monitor.process import Processor
from monitor.storage.alerts import alert_payload, list_alerts, list_deliveries
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.tagging import Tagger
from monitor.values import (
    AlertStatus,
    AlertType,
    DeliveryRow,
    DeliveryStatus,
    FeedSpec,
    StoredAlert,
)
from tests.factories import make_entry
from tests.test_process import NOW, STORY

ALERTS = AlertSettings(
    webhooks=[{"name": "ops", "url": "https://hooks.example.org/x", "secret_env": "X"}],
    rules=[{"name": "relevant", "min_score": 0.5, "channels": ["ops"]}],
)


def twenty_outlets(sessions: sessionmaker[Session], title: str = STORY, prefix: str = "") -> None:
    with sessions.begin() as session:
        add_feeds(
            session,
            [FeedSpec(f"https://outlet{n}.example/rss", name=f"Outlet {n}") for n in range(20)],
            900,
            NOW,
        )
        feeds = [f.id for f in list_feeds(session)]
        for n, feed in enumerate(feeds):
            entry = make_entry(
                f"{prefix}{n}", f"https://o{n}.example/{prefix}{n}", f"{title} ({prefix}{n})"
            )
            insert_articles(session, feed, [entry], NOW)


def processor(
    sessions: sessionmaker[Session], tagger: Tagger, alerts: AlertSettings = ALERTS
) -> Processor:
    return Processor(sessions, tagger, StorySettings(same_story_threshold=0.7), lambda: NOW, alerts)


def alert_rows(sessions: sessionmaker[Session]) -> list[StoredAlert]:
    with sessions() as session:
        return sorted(list_alerts(session), key=lambda a: a.id)


def payload_of(sessions: sessionmaker[Session], alert: StoredAlert) -> dict[str, object]:
    with sessions() as session:
        payload = alert_payload(session, alert.id)
    assert payload is not None
    return dict(json.loads(payload))


def deliveries(sessions: sessionmaker[Session]) -> list[DeliveryRow]:
    with sessions() as session:
        return sorted(list_deliveries(session), key=lambda d: d.id)


class TestPerStoryAlerts:
    def test_twenty_articles_one_story_two_alerts(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Twenty feeds running one story raise one match.created and one story.updated."""
        twenty_outlets(sessions)
        summary = processor(sessions, tagger).process_pending()
        rows = alert_rows(sessions)
        assert summary.alerts == 2
        assert [(a.type, a.outlets_count, a.status) for a in rows] == [
            (AlertType.MATCH_CREATED, 1, AlertStatus.QUEUED),
            (AlertType.STORY_UPDATED, 4, AlertStatus.QUEUED),
        ]
        assert str(payload_of(sessions, rows[1])["message"]).startswith(
            "now reported by 20 outlets: "
        )
        assert [(d.channel, d.status) for d in deliveries(sessions)] == [
            ("ops", DeliveryStatus.PENDING),
            ("ops", DeliveryStatus.PENDING),
        ]

    def test_alert_body_names_feeds_and_carries_the_reasons(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The stored body names each article's feed (URL and name) and carries the match's
        reasons, so every channel can say where and why."""
        twenty_outlets(sessions)
        processor(sessions, tagger).process_pending()
        body: dict[str, Any] = payload_of(sessions, alert_rows(sessions)[0])
        first = body["articles"][0]
        assert first["feed"] == "https://outlet0.example/rss" and first["feed_name"] == "Outlet 0"
        assert body["reasons"]["russia"] and body["reasons"]["latam"]

    def test_more_articles_later_raise_nothing_new(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A later batch of the same story, after both alerts, raises no third alert."""
        twenty_outlets(sessions)
        processor(sessions, tagger).process_pending()
        with sessions.begin() as session:
            feed = list_feeds(session)[0].id
            insert_articles(
                session,
                feed,
                [make_entry("late", "https://late.example/1", f"{STORY} (late)")],
                NOW,
            )
        assert processor(sessions, tagger).process_pending().alerts == 0


class TestDigests:
    def test_digest_rule_collects_held_stories(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A digest rule holds its alerts; after its period one digest carries the stories."""
        rule = ALERTS.rules[0].model_copy(update={"mode": "digest", "digest_every": "6h"})
        digest = ALERTS.model_copy(update={"rules": (rule,)})
        twenty_outlets(sessions)
        processor(sessions, tagger, digest).process_pending()
        assert {a.status for a in alert_rows(sessions)} == {AlertStatus.HELD}
        with sessions.begin() as session:
            assert build_due_digests(session, digest, NOW + timedelta(hours=1)) == 0
        with sessions.begin() as session:
            assert build_due_digests(session, digest, NOW + timedelta(hours=7)) == 1
        rows = alert_rows(sessions)
        body: dict[str, Any] = payload_of(sessions, rows[-1])
        assert rows[-1].type == AlertType.DIGEST and len(body["stories"]) == 1
        assert body["message"] == "1 story for rule relevant"
        assert body["stories"][0]["story"]["outlets_count"] == 20
        assert {a.status for a in rows[:-1]} == {AlertStatus.DIGESTED}
        assert len(deliveries(sessions)) == 1
