"""Queries on articles. Exact deduplication is the database's job: unique keys on
(feed, guid), canonical URL and normalised-content hash, and inserts that skip conflicts.

Every value is bounded again here by `monitor.limits` (parse already did), so an entry that
bypassed parse is stored the same on SQLite and PostgreSQL: text cut, control characters gone,
an over-long guid digested; an over-long URL is refused with a StorageError, never a DataError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.limits import (
    MAX_AUTHORS_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    bound_guid,
    clean_text,
    describe_overflow,
    fit_or_none,
    truncate_text,
)
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
        "guid": bound_guid(entry.guid),
        "url": bounded_url(entry.url),
        "title": truncate_text(entry.title, MAX_TITLE_CHARS),
        "summary": truncate_text(entry.summary, MAX_SUMMARY_CHARS),
        "language": fit_or_none(entry.language, MAX_LANGUAGE_CHARS),
        "authors": truncate_text(", ".join(entry.authors), MAX_AUTHORS_CHARS),
        "published_at": entry.published_at,
        "first_seen_at": first_seen_at,
        "content_hash": entry.content_hash,
    }


def bounded_url(url: str | None) -> str | None:
    """The URL without control characters; one over the column size is refused, not cut."""
    if url is None:
        return None
    url = clean_text(url)
    if len(url) > MAX_URL_CHARS:
        raise StorageError(describe_overflow("an article link", len(url), MAX_URL_CHARS))
    return url or None


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Article)) or 0
