"""Alerts raised by the processing stage: per story, in the same transaction as the matches."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import build_due_digests
from monitor.config import AlertSettings, StorySettings
from monitor.process import Processor
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.schema import Alert, Delivery
from monitor.tagging import Tagger
from monitor.values import FeedSpec
from tests.factories import make_entry
from tests.test_process import NOW, STORY

ALERTS = AlertSettings(
    webhooks=[{"name": "ops", "url": "https://hooks.example.org/x", "secret_env": "X"}],
    rules=[{"name": "relevant", "min_score": 0.5, "channels": ["ops"]}],
)


def twenty_outlets(sessions: sessionmaker[Session], title: str = STORY, prefix: str = "") -> None:
    with sessions.begin() as session:
        add_feeds(
            session, [FeedSpec(f"https://outlet{n}.example/rss") for n in range(20)], 900, NOW
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


def alert_rows(sessions: sessionmaker[Session]) -> list[Alert]:
    with sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


class TestPerStoryAlerts:
    def test_twenty_articles_one_story_two_alerts(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Twenty feeds running one story raise one match.created and one story.updated."""
        twenty_outlets(sessions)
        summary = processor(sessions, tagger).process_pending()
        rows = alert_rows(sessions)
        assert summary.alerts == 2
        assert [(a.type, a.outlets_count) for a in rows] == [
            ("match.created", 1),
            ("story.updated", 4),
        ]
        assert json.loads(rows[1].payload)["message"].startswith("now reported by")
        with sessions() as session:
            deliveries = list(session.scalars(select(Delivery)))
        assert [(d.channel, d.status) for d in deliveries] == [
            ("ops", "pending"),
            ("ops", "pending"),
        ]

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
        assert all(a.held for a in alert_rows(sessions))
        with sessions.begin() as session:
            assert build_due_digests(session, digest, NOW + timedelta(hours=1)) == 0
        with sessions.begin() as session:
            assert build_due_digests(session, digest, NOW + timedelta(hours=7)) == 1
        rows = alert_rows(sessions)
        body = json.loads(rows[-1].payload)
        assert rows[-1].type == "digest" and len(body["stories"]) == 1
        assert body["stories"][0]["story"]["outlets_count"] == 20
        with sessions() as session:
            assert len(list(session.scalars(select(Delivery)))) == 1
