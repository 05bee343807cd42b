"""Feed administration queries: re-enabling, polling now, lookup by id."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FetchSettings
from monitor.errors import ErrorClass
from monitor.schedule import plan_after_failure
from monitor.storage.articles import count_articles, insert_articles
from monitor.storage.feeds import (
    add_feeds,
    claim_due_feeds,
    enable_feed,
    get_feed,
    get_feed_by_id,
    list_fetch_log,
    poll_feed_now,
    record_fetch,
)
from monitor.values import FeedSpec, FetchFailure, FetchLogEntry
from tests.factories import NOW, make_entry

URL = "https://outlet.example/rss"
GONE = FetchFailure(ErrorClass.PERMANENT, "HTTPStatus", "HTTP 410 Gone", 410, None, 0.1)


def store_disabled_feed(sessions: sessionmaker[Session]) -> int:
    """One feed with an article, disabled by permanent failures it logged."""
    settings = FetchSettings(disable_after_permanent_failures=2)
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(URL)], 900, NOW)
        feed = get_feed(session, URL)
        assert feed is not None
        insert_articles(session, feed.id, [make_entry()], NOW)
    for _attempt in range(2):
        with sessions.begin() as session:
            feed = get_feed(session, URL)
            assert feed is not None
            state = plan_after_failure(feed, GONE, NOW, settings, jitter=0.0)
            log = FetchLogEntry(NOW, state.outcome, 410, 0, 100, "permanent", GONE.message)
            record_fetch(session, feed.id, state, log)
    with sessions.begin() as session:
        feed = get_feed(session, URL)
        assert feed is not None and not feed.enabled and feed.disabled_reason
        return feed.id


class TestEnableFeed:
    def test_enable_clears_the_failures_and_keeps_history(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """A re-enabled feed is enabled, due now, with no failure count or reason, and keeps
        its articles and fetch log."""
        feed_id = store_disabled_feed(sessions)
        later = NOW + timedelta(hours=3)
        with sessions.begin() as session:
            assert enable_feed(session, URL, later)
        with sessions.begin() as session:
            feed = get_feed(session, URL)
            assert feed is not None
            assert feed.enabled and feed.disabled_reason is None
            assert feed.permanent_failures == 0 and feed.consecutive_failures == 0
            assert feed.next_poll_at == later
            assert len(list_fetch_log(session, feed_id)) == 2
            assert count_articles(session) == 1
            assert [f.url for f in claim_due_feeds(session, later, "w", 60.0)] == [URL]

    def test_enable_unknown_feed(self, sessions: sessionmaker[Session]) -> None:
        """Enabling a URL that is not stored reports False."""
        with sessions.begin() as session:
            assert not enable_feed(session, URL, NOW)


class TestPollFeedNow:
    def test_poll_now_makes_the_feed_due(self, sessions: sessionmaker[Session]) -> None:
        """A feed polled now is claimable at once, though its next poll was hours away."""
        with sessions.begin() as session:
            add_feeds(session, [FeedSpec(URL)], 900, NOW + timedelta(hours=5))
            assert claim_due_feeds(session, NOW, "w", 60.0) == []
            assert poll_feed_now(session, URL, NOW)
            assert [f.url for f in claim_due_feeds(session, NOW, "w", 60.0)] == [URL]

    def test_poll_now_leaves_a_disabled_feed_disabled(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """Polling a disabled feed does not re-enable it."""
        store_disabled_feed(sessions)
        with sessions.begin() as session:
            assert poll_feed_now(session, URL, NOW)
            feed = get_feed(session, URL)
            assert feed is not None and not feed.enabled

    def test_poll_unknown_feed(self, sessions: sessionmaker[Session]) -> None:
        """Polling a URL that is not stored reports False."""
        with sessions.begin() as session:
            assert not poll_feed_now(session, URL, NOW)


class TestGetFeedById:
    def test_lookup_by_id(self, sessions: sessionmaker[Session]) -> None:
        """A stored feed is found by its id; an unknown id gives None."""
        with sessions.begin() as session:
            add_feeds(session, [FeedSpec(URL)], 900, NOW)
            feed = get_feed(session, URL)
            assert feed is not None
            assert get_feed_by_id(session, feed.id) == feed
            assert get_feed_by_id(session, feed.id + 1000) is None
