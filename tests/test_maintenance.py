"""The service's housekeeping queries on SQLite and PostgreSQL: pruning by each retention limit,
releasing exactly one owner's claims, and counting the work still outstanding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import RetentionSettings
from monitor.storage.articles import insert_articles
from monitor.storage.claims import claim_ids
from monitor.storage.feeds import add_feeds, claim_due_feeds, list_feeds
from monitor.storage.maintenance import (
    OutstandingWork,
    PruneSummary,
    count_outstanding_work,
    prune,
    release_leases,
)
from monitor.storage.schema import Article, Delivery, Feed, FetchLog
from monitor.storage.stories import claim_pending_articles
from monitor.values import FeedSpec
from tests.alert_support import store_alerts
from tests.factories import make_entry

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RETENTION = RetentionSettings(articles_days=10, vectors_days=5, fetch_log_days=3, deliveries_days=7)
LEASE_S = 300


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_feed(session: Session, url: str = "https://outlet.example/rss") -> int:
    add_feeds(session, [FeedSpec(url)], 900, NOW)
    return next(f.id for f in list_feeds(session) if f.url == url)


def add_article(session: Session, feed_id: int, guid: str, first_seen: datetime) -> None:
    entry = make_entry(guid, f"https://outlet.example/{guid}", f"Story {guid}")
    insert_articles(session, feed_id, [entry], first_seen)
    session.execute(update(Article).where(Article.guid == guid).values(embedding=b"\0\0"))


def add_fetch_log(session: Session, feed_id: int, started_at: datetime) -> None:
    session.add(
        FetchLog(feed_id=feed_id, started_at=started_at, outcome="ok", bytes=0, duration_ms=1)
    )


def add_delivery(sessions: sessionmaker[Session], created: datetime, status: str) -> None:
    [alert_id] = store_alerts(sessions, 1)
    with sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.alert_id == alert_id)
            .values(status=status, created_at=created, next_attempt_at=created)
        )


class TestPrune:
    def test_deletes_rows_past_each_limit_and_keeps_those_inside(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """Articles, vectors, fetch log and finished deliveries go past their limits; the rest,
        and pending deliveries of any age, stay."""
        with sessions.begin() as session:
            feed = add_feed(session)
            add_article(session, feed, "expired", days_ago(11))
            add_article(session, feed, "vector-expired", days_ago(6))
            add_article(session, feed, "fresh", days_ago(1))
            add_fetch_log(session, feed, days_ago(4))
            add_fetch_log(session, feed, days_ago(2))
        add_delivery(sessions, days_ago(8), "delivered")
        add_delivery(sessions, days_ago(6), "dead")
        add_delivery(sessions, days_ago(30), "pending")

        with sessions.begin() as session:
            pruned = prune(session, RETENTION, NOW)
        with sessions() as session:
            articles = {
                guid: blob
                for guid, blob in session.execute(select(Article.guid, Article.embedding))
            }
            log_times = list(session.scalars(select(FetchLog.started_at)))
            deliveries = sorted(session.scalars(select(Delivery.status)))
        assert pruned == PruneSummary(articles=1, vectors=1, fetch_log=1, deliveries=1)
        assert articles == {"vector-expired": None, "fresh": b"\0\0"}
        assert log_times == [days_ago(2)]
        assert deliveries == ["dead", "pending"]

    def test_nothing_inside_the_limits_is_touched(self, sessions: sessionmaker[Session]) -> None:
        """A database younger than every limit prunes nothing."""
        with sessions.begin() as session:
            feed = add_feed(session)
            add_article(session, feed, "recent", days_ago(2))
            add_fetch_log(session, feed, days_ago(1))
        add_delivery(sessions, days_ago(1), "delivered")
        with sessions.begin() as session:
            assert prune(session, RETENTION, NOW) == PruneSummary(0, 0, 0, 0)


class TestReleaseLeases:
    def test_frees_exactly_the_owners_feed_article_and_delivery_claims(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """After release_leases("a"), a's feed, article and delivery are free; b's are not."""
        with sessions.begin() as session:
            feeds = [add_feed(session, f"https://outlet{n}.example/rss") for n in range(2)]
            for n, feed in enumerate(feeds):
                add_article(session, feed, f"article-{n}", NOW)
        for _ in range(2):
            add_delivery(sessions, NOW, "pending")
        with sessions.begin() as session:
            for owner, url in (("a", "https://outlet0.example/rss"), ("b", None)):
                claim_due_feeds(session, NOW, owner, LEASE_S, url)
                claim_pending_articles(session, NOW, owner, LEASE_S, 1)
                claim_ids(
                    session,
                    Delivery,
                    [Delivery.status == "pending"],
                    [Delivery.id],
                    1,
                    Delivery.lease_owner,
                    Delivery.lease_expires_at,
                    owner,
                    NOW,
                    LEASE_S,
                )
        with sessions.begin() as session:
            release_leases(session, "a")
        with sessions() as session:
            holders = [
                sorted(map(str, session.scalars(select(column))))
                for column in (Feed.lease_owner, Article.claimed_by, Delivery.lease_owner)
            ]
            expiries = [
                session.scalar(select(column).where(owner_column == "b"))
                for column, owner_column in (
                    (Feed.lease_expires_at, Feed.lease_owner),
                    (Article.claim_expires_at, Article.claimed_by),
                    (Delivery.lease_expires_at, Delivery.lease_owner),
                )
            ]
            freed = session.scalars(
                select(Feed.lease_expires_at).where(Feed.url == "https://outlet0.example/rss")
            ).one()
        assert holders == [["None", "b"]] * 3
        assert expiries == [NOW + timedelta(seconds=LEASE_S)] * 3
        assert freed is None


class TestOutstandingWork:
    def test_counts_unfetched_feeds_unprocessed_articles_and_pending_deliveries(
        self, sessions: sessionmaker[Session]
    ) -> None:
        """Each kind of unfinished work is counted; an empty database is settled."""
        with sessions() as session:
            assert count_outstanding_work(session).is_settled
        with sessions.begin() as session:
            feed = add_feed(session)
            add_article(session, feed, "new", NOW)
        for _ in range(2):
            add_delivery(sessions, NOW, "pending")
        with sessions() as session:
            work = count_outstanding_work(session)
        assert work == OutstandingWork(
            unfetched_feeds=1, unprocessed_articles=1, pending_deliveries=2
        )
        assert not work.is_settled
