"""Queries on threads (the developing stories that link events) and on outlets, counting exact
copies delivered by other feeds. An event is a row of `stories`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, literal_column, select, union, update
from sqlalchemy.orm import Session

from monitor.storage.schema import Article, ArticleOutlet, EventThread, Story, Thread
from monitor.values import ProcessedArticle


def create_threads(session: Session, starting: Sequence[ProcessedArticle]) -> dict[int, int]:
    """One thread per provisional thread id, titled after its first article; provisional →
    real ids."""
    firsts: dict[int, ProcessedArticle] = {}
    for item in starting:
        firsts.setdefault(item.thread_id, item)
    if not firsts:
        return {}
    rows = [
        {
            "title": item.article.title[:500],
            "first_seen_at": item.article.first_seen_at,
            "last_seen_at": item.article.first_seen_at,
            "event_count": 0,
            "article_count": 0,
            "outlets_count": 0,
        }
        for item in firsts.values()
    ]
    new_ids = session.scalars(
        insert(Thread).returning(Thread.id, sort_by_parameter_order=True), rows
    )
    return dict(zip(firsts, new_ids, strict=True))


def story_outlets(session: Session, story_ids: Sequence[int]) -> dict[int, int]:
    """Distinct feeds per event: its articles' feeds and the feeds of their exact copies."""
    feeds = union(
        select(Article.story_id.label("story_id"), Article.feed_id.label("feed_id")).where(
            Article.story_id.in_(story_ids)
        ),
        select(Article.story_id, ArticleOutlet.feed_id)
        .join(ArticleOutlet, ArticleOutlet.article_id == Article.id)
        .where(Article.story_id.in_(story_ids)),
    ).subquery()
    rows = session.execute(
        select(feeds.c.story_id, func.count(literal_column("*"))).group_by(feeds.c.story_id)
    )
    return {int(story or 0): int(count) for story, count in rows}


def thread_outlets(session: Session, thread_ids: Sequence[int]) -> dict[int, int]:
    """Distinct feeds per thread, exact copies included."""
    feeds = union(
        select(EventThread.thread_id.label("thread_id"), Article.feed_id.label("feed_id"))
        .join(Article, Article.story_id == EventThread.story_id)
        .where(EventThread.thread_id.in_(thread_ids)),
        select(EventThread.thread_id, ArticleOutlet.feed_id)
        .join(Article, Article.story_id == EventThread.story_id)
        .join(ArticleOutlet, ArticleOutlet.article_id == Article.id)
        .where(EventThread.thread_id.in_(thread_ids)),
    ).subquery()
    rows = session.execute(
        select(feeds.c.thread_id, func.count(literal_column("*"))).group_by(feeds.c.thread_id)
    )
    return {int(thread): int(count) for thread, count in rows}


def refresh_threads(session: Session, thread_ids: Sequence[int]) -> None:
    """Recount events, articles, outlets and first/last seen of the given threads."""
    if not thread_ids:
        return
    outlets = thread_outlets(session, thread_ids)
    counts = session.execute(
        select(
            EventThread.thread_id,
            func.count(),
            func.sum(Story.article_count),
            func.min(Story.first_seen_at),
            func.max(Story.last_seen_at),
        )
        .join(Story, Story.id == EventThread.story_id)
        .where(EventThread.thread_id.in_(thread_ids))
        .group_by(EventThread.thread_id)
    ).all()
    if counts:
        session.execute(
            update(Thread),
            [
                {
                    "id": thread,
                    "event_count": events,
                    "article_count": int(articles or 0),
                    "outlets_count": outlets.get(thread, 0),
                    "first_seen_at": first,
                    "last_seen_at": last,
                }
                for thread, events, articles, first, last in counts
            ],
        )


def threads_of(session: Session, story_ids: Sequence[int]) -> dict[int, int]:
    """Each event's thread."""
    rows = session.execute(
        select(EventThread.story_id, EventThread.thread_id).where(
            EventThread.story_id.in_(story_ids)
        )
    )
    return {int(s): int(t) for s, t in rows}


def thread_events(session: Session, thread_id: int) -> list[dict[str, Any]]:
    """A thread's events, oldest first: id, title, outlets, articles, first/last seen."""
    rows = session.execute(
        select(Story)
        .join(EventThread, EventThread.story_id == Story.id)
        .where(EventThread.thread_id == thread_id)
        .order_by(Story.first_seen_at, Story.id)
    ).scalars()
    return [
        {
            "id": s.id,
            "title": s.title,
            "article_count": s.article_count,
            "outlets_count": s.outlets_count,
            "languages": s.languages.split(",") if s.languages else [],
            "first_seen_at": s.first_seen_at,
            "last_seen_at": s.last_seen_at,
        }
        for s in rows
    ]


def get_thread(session: Session, thread_id: int) -> dict[str, Any] | None:
    """A thread with its events, or None."""
    thread = session.get(Thread, thread_id)
    if thread is None:
        return None
    return {
        "id": thread.id,
        "title": thread.title,
        "event_count": thread.event_count,
        "article_count": thread.article_count,
        "outlets_count": thread.outlets_count,
        "first_seen_at": thread.first_seen_at,
        "last_seen_at": thread.last_seen_at,
        "events": thread_events(session, thread_id),
    }


def list_threads(session: Session) -> list[dict[str, Any]]:
    ids = session.scalars(select(Thread.id).order_by(Thread.id)).all()
    return [t for t in (get_thread(session, i) for i in ids) if t is not None]


def get_story_thread(session: Session, story_id: int) -> dict[str, Any] | None:
    """The thread an event (a story) belongs to, with all its events; None without one."""
    thread = threads_of(session, [story_id]).get(story_id)
    return get_thread(session, thread) if thread is not None else None
