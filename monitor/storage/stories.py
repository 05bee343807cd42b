"""Queries for the processing stage: pending articles, the window, events (rows of `stories`),
their threads, and matches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, select, update
from sqlalchemy.orm import Session

from monitor.storage.articles import dialect_insert
from monitor.storage.claims import claim_ids
from monitor.storage.events import create_threads, refresh_threads, story_outlets
from monitor.storage.schema import Article, EventThread, Match, Story
from monitor.values import MatchRecord, PendingArticle, ProcessedArticle, StoredVector

STORY_LOCK_KEY = 7_261_001  # PostgreSQL advisory lock serialising story assignment
# Candidate ids bound per window query: well under the bound-parameter limits of SQLite 3.32+
# (32,766) and PostgreSQL (65,535).
WINDOW_IDS_PER_QUERY = 5_000


def claim_pending_articles(
    session: Session, now: datetime, owner: str, lease_s: float, limit: int
) -> list[PendingArticle]:
    """Lease up to `limit` unprocessed articles to `owner` (SKIP LOCKED on PostgreSQL; SQLite's
    IMMEDIATE transaction makes it atomic); an expired claim can be taken over."""
    ids = claim_ids(
        session,
        Article,
        [Article.processed_at.is_(None)],
        [Article.id],
        limit,
        Article.claimed_by,
        Article.claim_expires_at,
        owner,
        now,
        lease_s,
    )
    if not ids:
        return []
    rows = session.execute(
        select(
            Article.id,
            Article.feed_id,
            Article.title,
            Article.summary,
            Article.language,
            Article.first_seen_at,
            Article.published_at,
        )
        .where(Article.id.in_(ids))
        .order_by(Article.id)
    )
    return [PendingArticle(*row) for row in rows]


def lock_story_assignment(session: Session) -> None:
    """One story assigner at a time across processes (PostgreSQL); SQLite's write transaction
    already is exclusive."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(STORY_LOCK_KEY)))


def count_pending_articles(session: Session) -> int:
    return session.scalar(select(func.count()).where(Article.processed_at.is_(None))) or 0


@dataclass(frozen=True, slots=True)
class WindowRows:
    """The window's articles, column by column (what the assignment index is built from)."""

    article_ids: list[int]
    event_ids: list[int]
    thread_ids: list[int]
    times: list[datetime]
    texts: list[tuple[str, str]]
    vectors: list[bytes]


def select_story_window(
    session: Session, since: datetime, model_id: str, article_ids: Sequence[int] | None = None
) -> WindowRows:
    """The articles first seen since `since` with their events, threads, publication times,
    texts and vectors, in article-id order; with `article_ids`, only those of them (the
    candidates the window index found: read in chunks that keep under every driver's limit on
    bound parameters)."""
    if article_ids is None:
        return window_rows(session.execute(window_query(since, model_id)).all())
    wanted = sorted(set(article_ids))
    rows: list[Any] = []
    for start in range(0, len(wanted), WINDOW_IDS_PER_QUERY):
        chunk = wanted[start : start + WINDOW_IDS_PER_QUERY]
        rows += session.execute(window_query(since, model_id).where(Article.id.in_(chunk))).all()
    return window_rows(rows)


def window_query(since: datetime, model_id: str) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Article.id,
            Article.story_id,
            EventThread.thread_id,
            Article.published_at,
            Article.title,
            Article.summary,
            Article.embedding,
        )
        .outerjoin(EventThread, EventThread.story_id == Article.story_id)
        .where(*in_window(since, model_id))
        .order_by(Article.id)
    )


def in_window(since: datetime, model_id: str) -> tuple[ColumnElement[bool], ...]:
    """What makes a stored article part of the story window."""
    return (
        Article.first_seen_at >= since,
        Article.embedding_model == model_id,
        Article.story_id.is_not(None),
        Article.embedding.is_not(None),
    )


def select_window_texts(
    session: Session, since: datetime, model_id: str, limit: int
) -> list[tuple[int, tuple[str, str]]]:
    """The newest `limit` window articles (by id) with their titles and summaries, oldest of
    them first."""
    query = (
        select(Article.id, Article.title, Article.summary)
        .where(*in_window(since, model_id))
        .order_by(Article.id.desc())
        .limit(limit)
    )
    rows = session.connection().execute(query).all()
    return [(int(i), (title, summary)) for i, title, summary in reversed(rows)]


def window_rows(rows: Sequence[Any]) -> WindowRows:
    return WindowRows(
        [r[0] for r in rows],
        [int(r[1] or 0) for r in rows],
        [int(r[2] or r[1] or 0) for r in rows],
        [r[3] for r in rows],
        [(r[4], r[5]) for r in rows],
        [bytes(r[6] or b"") for r in rows],
    )


def count_window_vectors(
    session: Session, model_id: str, since: datetime, up_to_watermark: int
) -> int:
    """How many stored vectors of `model_id` first seen since `since` have a match id at or
    below `up_to_watermark` (what a window index read up to that watermark must hold; see
    monitor.storage.vectors)."""
    query = (
        select(func.count())
        .select_from(Article)
        .join(Match, Match.article_id == Article.id)
        .where(
            Match.id <= up_to_watermark,
            Article.embedding_model == model_id,
            Article.embedding.is_not(None),
            Article.first_seen_at >= since,
        )
    )
    return session.scalar(query) or 0


def save_processed(
    session: Session, processed: Sequence[ProcessedArticle], now: datetime
) -> dict[int, int]:
    """Store vectors, stories and matches of one batch in a handful of statements; return the
    provisional → real event (story) ids."""
    real_ids = create_stories(session, processed)
    story_of = [real_ids.get(item.story_id, item.story_id) for item in processed]
    threads = link_threads(session, processed, real_ids)
    session.execute(
        update(Article),
        [
            {
                "id": item.article.id,
                "embedding": item.vector,
                "claimed_by": None,
                "claim_expires_at": None,
                "embedding_model": item.model_id,
                "story_id": story_id,
                "seed_duplicate": item.seed_duplicate,
                "processed_at": now,
            }
            for item, story_id in zip(processed, story_of, strict=True)
        ],
    )
    upsert_matches(
        session,
        [(item.match, story_id) for item, story_id in zip(processed, story_of, strict=True)],
        now,
    )
    refresh_stories(session, sorted(set(story_of)))
    refresh_threads(session, threads)
    return real_ids


def link_threads(
    session: Session, processed: Sequence[ProcessedArticle], real_event_ids: dict[int, int]
) -> list[int]:
    """Each event started in this batch joins its thread (one started now or an existing one);
    returns the threads touched."""
    real_threads = create_threads(session, [p for p in processed if p.thread_id < 0])
    links = {}
    for item in processed:
        if item.story_id < 0:
            links[real_event_ids[item.story_id]] = real_threads.get(item.thread_id, item.thread_id)
    if links:
        session.execute(
            insert(EventThread), [{"story_id": e, "thread_id": t} for e, t in links.items()]
        )
    return sorted({real_threads.get(p.thread_id, p.thread_id) for p in processed if p.thread_id})


def create_stories(session: Session, processed: Sequence[ProcessedArticle]) -> dict[int, int]:
    """One row per story started in this batch, titled after its first article."""
    firsts = {}
    for item in processed:
        if item.story_id < 0 and item.story_id not in firsts:
            firsts[item.story_id] = item
    if not firsts:
        return {}
    rows = [
        {
            "title": item.article.title[:500],
            "first_seen_at": item.article.first_seen_at,
            "last_seen_at": item.article.first_seen_at,
            "article_count": 0,
            "outlets_count": 0,
            "languages": "",
            "seed": item.seed_duplicate,
        }
        for item in firsts.values()
    ]
    new_ids = session.scalars(insert(Story).returning(Story.id, sort_by_parameter_order=True), rows)
    return dict(zip(firsts, new_ids, strict=True))


def refresh_stories(session: Session, story_ids: Sequence[int]) -> None:
    """Recount members, outlets, languages and last-seen time of the given stories."""
    if not story_ids:
        return
    outlets = story_outlets(session, story_ids)
    counts = session.execute(
        select(Article.story_id, func.count(), func.max(Article.first_seen_at))
        .where(Article.story_id.in_(story_ids))
        .group_by(Article.story_id)
    ).all()
    languages: dict[int | None, set[str]] = {}
    for story_id, language in session.execute(
        select(Article.story_id, Article.language).where(Article.story_id.in_(story_ids)).distinct()
    ):
        if language:
            languages.setdefault(story_id, set()).add(language)
    session.execute(
        update(Story),
        [
            {
                "id": story_id,
                "article_count": count,
                "outlets_count": outlets.get(story_id or 0, 0),
                "last_seen_at": last_seen,
                "languages": ",".join(sorted(languages.get(story_id, ()))),
            }
            for story_id, count, last_seen in counts
        ],
    )


def upsert_matches(
    session: Session, matches: Sequence[tuple[MatchRecord, int | None]], now: datetime
) -> None:
    """Insert or replace each article's match (one statement for the batch, executed over
    its rows: compiled once and cached, where a 256-row VALUES list was compiled anew each
    time)."""
    if not matches:
        return
    rows: list[dict[str, Any]] = [
        {
            "article_id": m.article_id,
            "story_id": story_id,
            "relevant": m.relevant,
            "score": m.score,
            "countries": json.dumps(list(m.countries)),
            "topics": json.dumps(list(m.topics)),
            "reasons": m.reasons,
            "scorer_version": m.scorer_version,
            "created_at": now,
            "updated_at": now,
        }
        for m, story_id in matches
    ]
    statement = dialect_insert(session)(Match)
    changed = {k: statement.excluded[k] for k in rows[0] if k not in ("article_id", "created_at")}
    session.execute(
        statement.on_conflict_do_update(index_elements=[Match.article_id], set_=changed), rows
    )


def select_stored_vectors(
    session: Session, model_id: str, since: datetime | None, after_id: int, limit: int
) -> list[StoredVector]:
    query = (
        select(Article.id, Article.story_id, Article.title, Article.summary, Article.embedding)
        .where(
            Article.embedding_model == model_id,
            Article.embedding.is_not(None),
            Article.id > after_id,
        )
        .order_by(Article.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    return [
        StoredVector(row[0], row[1], row[2], row[3], bytes(row[4] or b""))
        for row in session.execute(query)
    ]


def count_stored_vectors(session: Session, model_id: str, since: datetime | None) -> int:
    query = select(func.count()).where(
        Article.embedding_model == model_id, Article.embedding.is_not(None)
    )
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    return session.scalar(query) or 0


def list_matches(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Match).order_by(Match.article_id)).scalars()
    return [
        {
            "article_id": m.article_id,
            "story_id": m.story_id,
            "relevant": m.relevant,
            "score": m.score,
            "countries": json.loads(m.countries),
            "topics": json.loads(m.topics),
            "reasons": json.loads(m.reasons),
            "scorer_version": m.scorer_version,
        }
        for m in rows
    ]


def list_stories(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Story).order_by(Story.id)).scalars()
    return [
        {
            "id": s.id,
            "title": s.title,
            "article_count": s.article_count,
            "outlets_count": s.outlets_count,
            "languages": s.languages.split(",") if s.languages else [],
            "first_seen_at": s.first_seen_at,
            "last_seen_at": s.last_seen_at,
            "seed": s.seed,
        }
        for s in rows
    ]
