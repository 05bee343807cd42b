"""Queries on articles. Exact deduplication is the database's job: unique keys on
(feed, guid), canonical URL and normalised-content hash, and inserts that skip conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.schema import Article
from monitor.values import InsertResult, ParsedEntry

# Keeps one INSERT below SQLite's bound-parameter limit (32766) with 11 columns a row.
INSERT_BATCH_ROWS = 500


def insert_articles(
    session: Session, feed_id: int, entries: Sequence[ParsedEntry], first_seen_at: datetime
) -> InsertResult:
    """Insert entries not stored yet; a re-fetch of the same entries inserts nothing."""
    rows = [article_row(feed_id, entry, first_seen_at) for entry in entries]
    new_ids: list[int] = []
    for start in range(0, len(rows), INSERT_BATCH_ROWS):
        statement = dialect_insert(session)(Article).values(rows[start : start + INSERT_BATCH_ROWS])
        statement = statement.on_conflict_do_nothing().returning(Article.id)
        new_ids.extend(session.scalars(statement))
    return InsertResult(new_article_ids=tuple(new_ids), duplicates=len(rows) - len(new_ids))


def dialect_insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


def article_row(feed_id: int, entry: ParsedEntry, first_seen_at: datetime) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "language": entry.language,
        "authors": ", ".join(entry.authors),
        "published_at": entry.published_at,
        "first_seen_at": first_seen_at,
        "content_hash": entry.content_hash,
    }


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Article)) or 0
