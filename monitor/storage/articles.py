"""Queries on articles. Exact deduplication is the database's job: unique keys on
(feed, guid), canonical URL and normalised-content hash, and inserts that skip conflicts.

Every value is bounded again here by `monitor.limits` (parse already did), so an entry that
bypassed parse is stored the same on SQLite and PostgreSQL: text cut, control characters gone,
an over-long guid digested; an over-long URL is refused with a StorageError, never a DataError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
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
from monitor.storage.events import refresh_threads, story_outlets, threads_of
from monitor.storage.schema import Article, ArticleOutlet, Story
from monitor.values import InsertResult, ParsedEntry

# Keeps one INSERT below SQLite's bound-parameter limit (32766) with 11 columns a row.
INSERT_BATCH_ROWS = 500


def insert_articles(
    session: Session, feed_id: int, entries: Sequence[ParsedEntry], first_seen_at: datetime
) -> InsertResult:
    """Insert entries not stored yet; a re-fetch of the same entries inserts nothing. An exact
    copy of another feed's article (same link or same content) is not stored again, but the
    feed is recorded as one more outlet of that article."""
    rows = [article_row(feed_id, entry, first_seen_at) for entry in entries]
    new_ids: list[int] = []
    if not rows:
        return InsertResult(new_article_ids=(), duplicates=0)
    # One Core statement for every feed, its rows as parameters: compiled once and cached (a
    # multi-row VALUES built per feed was recompiled each time, 45 % of the database thread),
    # and run on the session's connection: the ORM's bulk path around the same INSERT cost
    # about as much again as the INSERT itself.
    session.flush()  # what session.execute would do first: pending rows (a new feed) go in
    connection = session.connection()
    statement = article_insert(connection.dialect.name)
    for start in range(0, len(rows), INSERT_BATCH_ROWS):
        chunk = rows[start : start + INSERT_BATCH_ROWS]
        inserted = list(connection.execute(statement, chunk).scalars())
        new_ids.extend(inserted)
        if len(inserted) < len(chunk):
            record_copies(session, feed_id, chunk, inserted, first_seen_at)
    return InsertResult(new_article_ids=tuple(new_ids), duplicates=len(rows) - len(new_ids))


def record_copies(
    session: Session,
    feed_id: int,
    rows: Sequence[dict[str, Any]],
    inserted: Sequence[int],
    first_seen_at: datetime,
) -> None:
    """Count `feed_id` as an outlet of the other feeds' articles that these rows copy exactly,
    and recount the outlets of their events and threads."""
    urls = [r["url"] for r in rows if r["url"]]
    hashes = [r["content_hash"] for r in rows if r["content_hash"]]
    originals = session.execute(
        select(Article.id, Article.story_id).where(
            or_(Article.url.in_(urls), Article.content_hash.in_(hashes)),
            Article.feed_id != feed_id,
            Article.id.not_in(inserted),
        )
    ).all()
    if not originals:
        return
    statement = dialect_insert(session)(ArticleOutlet).values(
        [
            {"article_id": a, "feed_id": feed_id, "first_seen_at": first_seen_at}
            for a, _s in originals
        ]
    )
    session.execute(statement.on_conflict_do_nothing())
    recount_outlets(session, sorted({int(s) for _, s in originals if s is not None}))


def recount_outlets(session: Session, story_ids: Sequence[int]) -> None:
    if not story_ids:
        return
    outlets = story_outlets(session, story_ids)
    session.execute(
        update(Story), [{"id": s, "outlets_count": outlets.get(s, 0)} for s in story_ids]
    )
    refresh_threads(session, sorted(set(threads_of(session, story_ids).values())))


def dialect_insert(session: Session) -> Any:
    """The conflict-aware INSERT of the session's database."""
    return insert_function(session.get_bind().dialect.name)


def insert_function(dialect_name: str) -> Any:
    """The dialect's conflict-aware INSERT (its module is imported here, so a SQLite process
    never loads PostgreSQL's)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


ARTICLE_INSERTS: dict[str, Any] = {}


def article_insert(dialect_name: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id on the articles table, built once per
    dialect (building it coerced every column again for each feed)."""
    statement = ARTICLE_INSERTS.get(dialect_name)
    if statement is None:
        table = cast(Table, Article.__table__)
        statement = insert_function(dialect_name)(table).on_conflict_do_nothing()
        statement = ARTICLE_INSERTS[dialect_name] = statement.returning(table.c.id)
    return statement


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
