"""Retention, lease release and the outstanding-work count: the service's housekeeping queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor.config import RetentionSettings
from monitor.storage.schema import Article, Delivery, Feed, FetchLog


@dataclass(frozen=True, slots=True)
class PruneSummary:
    """How many rows each retention limit removed (vectors: cleared, their articles kept)."""

    articles: int
    vectors: int
    fetch_log: int
    deliveries: int


def prune(session: Session, settings: RetentionSettings, now: datetime) -> PruneSummary:
    """Delete what is past its retention."""

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    articles = session.execute(
        delete(Article).where(Article.first_seen_at < before(settings.articles_days))
    )
    vectors = session.execute(
        update(Article)
        .where(
            Article.first_seen_at < before(settings.vectors_days), Article.embedding.is_not(None)
        )
        .values(embedding=None)
    )
    log = session.execute(
        delete(FetchLog).where(FetchLog.started_at < before(settings.fetch_log_days))
    )
    deliveries = session.execute(
        delete(Delivery).where(
            Delivery.status != "pending", Delivery.created_at < before(settings.deliveries_days)
        )
    )
    return PruneSummary(affected(articles), affected(vectors), affected(log), affected(deliveries))


def affected(result: Any) -> int:
    return int(result.rowcount)


def release_leases(session: Session, owner: str) -> None:
    """Give back what a stopping worker claimed but did not finish: its feed leases, its
    article claims and its delivery leases (nobody else's)."""
    session.execute(
        update(Feed)
        .where(Feed.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    session.execute(
        update(Article)
        .where(Article.claimed_by == owner)
        .values(claimed_by=None, claim_expires_at=None)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


@dataclass(frozen=True, slots=True)
class OutstandingWork:
    """What is still to do: feeds never fetched, articles not processed, deliveries pending."""

    unfetched_feeds: int
    unprocessed_articles: int
    pending_deliveries: int

    @property
    def is_settled(self) -> bool:
        return not (self.unfetched_feeds or self.unprocessed_articles or self.pending_deliveries)


def count_outstanding_work(session: Session) -> OutstandingWork:
    def count(*conditions: Any) -> int:
        return session.scalar(select(func.count()).where(*conditions)) or 0

    return OutstandingWork(
        unfetched_feeds=count(Feed.last_status.is_(None)),
        unprocessed_articles=count(Article.processed_at.is_(None)),
        pending_deliveries=count(Delivery.status == "pending"),
    )
