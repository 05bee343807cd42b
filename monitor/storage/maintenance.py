"""Retention and lease release: the service's housekeeping queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from monitor.config import RetentionSettings
from monitor.storage.schema import Article, Delivery, Feed, FetchLog


@dataclass(frozen=True, slots=True)
class PruneSummary:
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
    """Give back what a stopping worker claimed but did not finish."""
    session.execute(
        update(Feed)
        .where(Feed.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
