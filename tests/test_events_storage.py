"""Events inside threads as the processing stage stores them, and outlets of exact copies, on
both databases."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import AlertSettings, StorySettings
from monitor.process import Processor
from monitor.storage.alerts import alert_payload, list_alerts
from monitor.storage.articles import insert_articles
from monitor.storage.events import get_thread, list_threads, threads_of
from monitor.storage.feeds import add_feeds, list_feeds
from monitor.storage.stories import list_stories
from monitor.tagging import Tagger
from monitor.values import AlertType, FeedSpec
from tests.factories import make_entry
from tests.test_process import NOW

WARSHIPS = "Russian warships dock in Havana for naval exercises with Cuba"
WARSHIPS_LATER = "Russian warships leave Havana after naval exercises with Cuba"
ALERTS = AlertSettings(
    webhooks=[{"name": "ops", "url": "https://hooks.example.org/x", "secret_env": "X"}],
    rules=[{"name": "relevant", "min_score": 0.3, "channels": ["ops"]}],
)


def processor(
    sessions: sessionmaker[Session], tagger: Tagger, now: datetime, alerts: AlertSettings = ALERTS
) -> Processor:
    return Processor(sessions, tagger, StorySettings(same_story_threshold=0.6), lambda: now, alerts)


def feeds(sessions: sessionmaker[Session], count: int = 3) -> list[int]:
    with sessions.begin() as session:
        add_feeds(
            session, [FeedSpec(f"https://outlet{n}.example/rss") for n in range(count)], 900, NOW
        )
        return [f.id for f in list_feeds(session)]


def publish(
    sessions: sessionmaker[Session],
    feed: int,
    guid: str,
    title: str,
    when: datetime,
    url: str | None = None,
) -> None:
    entry = replace(make_entry(guid, url or f"https://o.example/{guid}", title), published_at=when)
    with sessions.begin() as session:
        insert_articles(session, feed, [entry], when)


class TestEventsInThreads:
    def test_same_news_three_days_later_is_a_new_event_of_the_thread(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A close follow-up 72 h later starts its own event inside the first one's thread."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        publish(sessions, ids[1], "b", WARSHIPS + " today", NOW + timedelta(hours=2))
        processor(sessions, tagger, NOW + timedelta(hours=2)).process_pending()
        later = NOW + timedelta(hours=72)
        publish(sessions, ids[2], "c", WARSHIPS_LATER, later)
        summary = processor(sessions, tagger, later).process_pending()
        assert summary.new_stories == 1
        with sessions() as session:
            events = list_stories(session)
            threads = list_threads(session)
            assert len(events) == 2 and len(threads) == 1
            assert set(threads_of(session, [e["id"] for e in events]).values()) == {
                threads[0]["id"]
            }
        [thread] = threads
        assert (thread["event_count"], thread["article_count"], thread["outlets_count"]) == (
            2,
            3,
            3,
        )
        assert [e["title"] for e in thread["events"]] == [WARSHIPS, WARSHIPS_LATER]
        assert [e["outlets_count"] for e in thread["events"]] == [2, 1]

    def test_unrelated_news_starts_its_own_thread(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Every event belongs to exactly one thread; unrelated news gets a new one."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        publish(sessions, ids[1], "b", "Brazil central bank holds interest rate steady", NOW)
        processor(sessions, tagger, NOW).process_pending()
        with sessions() as session:
            events = list_stories(session)
            assert len(set(threads_of(session, [e["id"] for e in events]).values())) == 2


class TestExactCopies:
    def test_copy_in_another_feed_is_stored_once_and_counted_as_an_outlet(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """The same link in a second feed stores nothing new but the event has two outlets."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW, url="https://wire.example/1")
        publish(sessions, ids[1], "b", WARSHIPS, NOW, url="https://wire.example/1")
        processor(sessions, tagger, NOW).process_pending()
        with sessions() as session:
            [event] = list_stories(session)
            [thread] = list_threads(session)
        assert (event["article_count"], event["outlets_count"]) == (1, 2)
        assert thread["outlets_count"] == 2

    def test_copy_arriving_after_processing_recounts_the_event(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A copy of an already processed article raises its event's and thread's outlets."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW, url="https://wire.example/1")
        processor(sessions, tagger, NOW).process_pending()
        publish(sessions, ids[1], "b", WARSHIPS, NOW, url="https://wire.example/1")
        publish(sessions, ids[1], "b", WARSHIPS, NOW, url="https://wire.example/1")  # re-fetch
        with sessions() as session:
            [event] = list_stories(session)
            thread = get_thread(session, threads_of(session, [event["id"]])[event["id"]])
        assert event["outlets_count"] == 2
        assert thread is not None and thread["outlets_count"] == 2

    def test_same_feed_refetch_adds_no_outlet(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """A feed repeating its own article is still one outlet."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        processor(sessions, tagger, NOW).process_pending()
        with sessions() as session:
            [event] = list_stories(session)
        assert event["outlets_count"] == 1


class TestAlertsFollowEvents:
    def test_new_event_of_an_alerted_thread_raises_story_developing(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Event one raises match.created; the thread's next event raises story.developing
        under its own title, with the earlier event as context."""
        ids = feeds(sessions)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        processor(sessions, tagger, NOW).process_pending()
        later = NOW + timedelta(hours=72)
        publish(sessions, ids[1], "c", WARSHIPS_LATER, later)
        processor(sessions, tagger, later).process_pending()
        with sessions() as session:
            alerts = sorted(list_alerts(session), key=lambda a: a.id)
            payloads = [json.loads(alert_payload(session, a.id) or "{}") for a in alerts]
        assert [a.type for a in alerts] == [AlertType.MATCH_CREATED, AlertType.STORY_DEVELOPING]
        developing = payloads[1]
        assert developing["type"] == "story.developing"
        assert developing["story"]["title"] == WARSHIPS_LATER
        assert developing["message"].endswith(WARSHIPS_LATER)
        assert [e["title"] for e in developing["thread"]["events"]] == [WARSHIPS]
        assert payloads[0]["thread"]["events"] == []

    def test_story_updated_stays_per_event(
        self, sessions: sessionmaker[Session], tagger: Tagger
    ) -> None:
        """Outlets of the first event reach the update step: story.updated names that event."""
        ids = feeds(sessions, 6)
        publish(sessions, ids[0], "a", WARSHIPS, NOW)
        processor(sessions, tagger, NOW).process_pending()
        for n in range(1, 6):
            publish(sessions, ids[n], f"x{n}", f"{WARSHIPS} ({n})", NOW + timedelta(hours=1))
        processor(sessions, tagger, NOW + timedelta(hours=1)).process_pending()
        with sessions() as session:
            alerts = sorted(list_alerts(session), key=lambda a: a.id)
        assert [a.type for a in alerts] == [AlertType.MATCH_CREATED, AlertType.STORY_UPDATED]
        assert alerts[0].story_id == alerts[1].story_id
